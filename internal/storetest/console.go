package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/verification"
)

func newConsoleToken(id string) operator.Token {
	return operator.Token{ID: id, Name: "ops " + id, Hash: hash("console " + id), CreatedAt: at(-time.Hour)}
}

func newConsoleSession(tokenID, cookie string, expires time.Duration) operator.Session {
	return operator.Session{Hash: hash("session " + cookie), TokenID: tokenID, CreatedAt: at(0), ExpiresAt: at(expires)}
}

// statsAt makes a stats query of AC1 from base, in steps of a minute, for
// an hour.
func statsQuery(prefixLen int) operator.StatsQuery {
	return operator.StatsQuery{AccountSID: "AC1", Since: at(0), Until: at(time.Hour), Step: time.Minute, PrefixLen: prefixLen, Direction: string(message.OutboundAPI)}
}

var consoleTests = []testCase{
	{"Tokens", func(t *testing.T, s Store) {
		// CT1 is the operator's own (every account); CT2 reads AC1 only.
		t1, t2 := newConsoleToken("CT1"), newConsoleToken("CT2")
		t2.CreatedAt, t2.AccountSID = at(0), "AC1"
		check(t, "InsertOperatorToken(CT2)", s.InsertOperatorToken(ctx, t2))
		check(t, "InsertOperatorToken(CT1)", s.InsertOperatorToken(ctx, t1))
		got, err := s.OperatorTokens(ctx)
		check(t, "OperatorTokens", err)
		assertEqual(t, "OperatorTokens (oldest first)", got, []operator.Token{t1, t2})
		for _, want := range []operator.Token{t1, t2} {
			one, err := s.OperatorTokenByHash(ctx, want.Hash)
			check(t, "OperatorTokenByHash", err)
			assertEqual(t, "OperatorTokenByHash("+want.ID+")", one, want)
		}
		_, err = s.OperatorTokenByHash(ctx, hash("no such token"))
		wantNotFound(t, "OperatorTokenByHash(unknown)", err)
		dup := newConsoleToken("CT3")
		dup.Hash = t1.Hash
		if err := s.InsertOperatorToken(ctx, dup); err == nil {
			t.Error("a second token with the same hash was stored")
		}
	}},
	{"SessionsEndWithTheirToken", func(t *testing.T, s Store) {
		t1, t2 := newConsoleToken("CT1"), newConsoleToken("CT2")
		t2.Hash, t2.AccountSID = hash("console other"), "AC2"
		check(t, "InsertOperatorToken", s.InsertOperatorToken(ctx, t1))
		check(t, "InsertOperatorToken", s.InsertOperatorToken(ctx, t2))
		a, b, c := newConsoleSession("CT1", "a", 12*time.Hour), newConsoleSession("CT2", "b", 12*time.Hour), newConsoleSession("CT1", "c", time.Minute)
		for _, se := range []operator.Session{a, b, c} {
			check(t, "InsertConsoleSession", s.InsertConsoleSession(ctx, se))
		}
		// A session comes with its token's name and account.
		a.TokenName, b.TokenName, b.AccountSID = "ops CT1", "ops CT2", "AC2"
		for _, want := range []operator.Session{a, b} {
			got, err := s.ConsoleSession(ctx, want.Hash)
			check(t, "ConsoleSession", err)
			assertEqual(t, "ConsoleSession (of "+want.TokenID+")", got, want)
		}
		wantNotFound(t, "InsertConsoleSession(unknown token)", s.InsertConsoleSession(ctx, newConsoleSession("CT9", "x", time.Hour)))
		_, err := s.ConsoleSession(ctx, hash("session x"))
		wantNotFound(t, "ConsoleSession(of an unknown token)", err)

		// Expired sessions are forgotten; the others stay.
		n, err := s.ForgetConsoleSessions(ctx, at(time.Minute))
		if err != nil || n != 1 {
			t.Errorf("ForgetConsoleSessions = %d, %v; want 1", n, err)
		}
		_, err = s.ConsoleSession(ctx, c.Hash)
		wantNotFound(t, "ConsoleSession(expired, forgotten)", err)

		// Revoking CT1 ends its session, not CT2's; it gets no new ones.
		check(t, "RevokeOperatorToken", s.RevokeOperatorToken(ctx, "CT1", at(time.Hour)))
		_, err = s.ConsoleSession(ctx, a.Hash)
		wantNotFound(t, "ConsoleSession(of a revoked token)", err)
		if _, err := s.ConsoleSession(ctx, b.Hash); err != nil {
			t.Errorf("ConsoleSession(of the other token) after a revocation: %v", err)
		}
		wantNotFound(t, "InsertConsoleSession(revoked token)", s.InsertConsoleSession(ctx, newConsoleSession("CT1", "d", time.Hour)))
		wantNotFound(t, "RevokeOperatorToken(again)", s.RevokeOperatorToken(ctx, "CT1", at(2*time.Hour)))
		wantNotFound(t, "RevokeOperatorToken(unknown)", s.RevokeOperatorToken(ctx, "CT9", at(2*time.Hour)))
		tok, err := s.OperatorTokenByHash(ctx, t1.Hash)
		check(t, "OperatorTokenByHash(revoked)", err)
		if !tok.RevokedAt.Equal(at(time.Hour)) {
			t.Errorf("revoked token's RevokedAt = %v, want %v", tok.RevokedAt, at(time.Hour))
		}

		// Signing out.
		check(t, "DeleteConsoleSession", s.DeleteConsoleSession(ctx, b.Hash))
		_, err = s.ConsoleSession(ctx, b.Hash)
		wantNotFound(t, "ConsoleSession(signed out)", err)
		check(t, "DeleteConsoleSession(gone)", s.DeleteConsoleSession(ctx, b.Hash))
	}},
	{"MessageStats", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		send := func(account, sid, to string, created time.Duration) {
			t.Helper()
			m := newMessage(account, sid, at(created))
			m.To = to
			mustSend(t, s, m)
		}
		// Minute 0: two to Zain over "zain", one delivered 3 s after it
		// was sent, the other 7 s after; one to Orange that failed.
		send("AC1", "SM1", "+962790000001", 10*time.Second)
		send("AC1", "SM2", "+962790000002", 20*time.Second)
		send("AC1", "SM3", "+962770000003", 30*time.Second)
		for i, sid := range []string{"SM1", "SM2"} {
			check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: sid, Status: message.Sent, Connector: "zain",
				PartKeys: [][]string{{"id" + sid}}, At: at(40 * time.Second)}))
			check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"id" + sid}, Status: message.Delivered,
				At: at(40*time.Second + time.Duration(3+4*i)*time.Second)}))
		}
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM3", Status: message.Failed, Connector: "orange", ErrorCode: 30008, At: at(40 * time.Second)}))
		// Redacting a delivered message later does not move its receipt delay.
		check(t, "RedactMessage", s.RedactMessage(ctx, "AC1", "SM1", []message.Status{message.Delivered}, at(50*time.Minute)))
		// Minute 2: one queued to Zain. Left out: before the range, at its
		// end, another account's, and an inbound message.
		send("AC1", "SM4", "+962790000004", 2*time.Minute+5*time.Second)
		send("AC1", "SM5", "+962790000005", -time.Second)
		send("AC1", "SM6", "+962790000006", time.Hour)
		send("AC2", "SM7", "+962790000007", time.Minute)
		in := newMessage("AC1", "SM8", at(time.Minute))
		in.Direction, in.Status, in.To = message.Inbound, message.Received, "+962790000008"
		check(t, "InsertInbound", s.InsertInbound(ctx, in, nil, nil))

		got, err := s.MessageStats(ctx, statsQuery(6))
		check(t, "MessageStats", err)
		want := []operator.MessageStat{
			{Bucket: 0, Connector: "orange", Prefix: "+96277", Status: "failed", Count: 1},
			{Bucket: 0, Connector: "zain", Prefix: "+96279", Status: "delivered", Count: 2, Timed: 2, DelaySum: 10 * time.Second, DelayMax: 7 * time.Second},
			{Bucket: 2, Connector: "", Prefix: "+96279", Status: "queued", Count: 1},
		}
		assertEqual(t, "MessageStats", got, want)

		// Every direction, in steps of 90 s, by a longer prefix.
		q := statsQuery(8)
		q.Direction, q.Step = "", 90*time.Second
		got, err = s.MessageStats(ctx, q)
		check(t, "MessageStats(all directions)", err)
		want = []operator.MessageStat{
			{Bucket: 0, Connector: "", Prefix: "+9627900", Status: "received", Count: 1},
			{Bucket: 0, Connector: "orange", Prefix: "+9627700", Status: "failed", Count: 1},
			{Bucket: 0, Connector: "zain", Prefix: "+9627900", Status: "delivered", Count: 2, Timed: 2, DelaySum: 10 * time.Second, DelayMax: 7 * time.Second},
			{Bucket: 1, Connector: "", Prefix: "+9627900", Status: "queued", Count: 1},
		}
		assertEqual(t, "MessageStats(all directions)", got, want)

		senders, err := s.SenderStats(ctx, statsQuery(6))
		check(t, "SenderStats", err)
		assertEqual(t, "SenderStats", senders, []operator.SenderStat{{From: "otpgate", Prefix: "+96277", Count: 1}, {From: "otpgate", Prefix: "+96279", Count: 3}})
	}},
	{"VerificationStats", func(t *testing.T, s Store) {
		mustSetup(t, s)
		_, err := s.CreateService(ctx, newService("AC1", "SV2", "signup"))
		check(t, "CreateService", err)
		start := func(service, sid, to string, created time.Duration) {
			t.Helper()
			mustStartVerification(t, s, newVerification("AC1", service, sid, to, at(created)))
		}
		// Minute 0: two of login to +96279..., one approved; minute 3: one
		// of signup to +96277...; before the range: one (left out).
		start("SV1", "VE1", "+962790000001", 10*time.Second)
		start("SV1", "VE2", "+962790000002", 20*time.Second)
		start("SV2", "VE3", "+962770000003", 3*time.Minute)
		start("SV1", "VE4", "+962790000004", -time.Minute)
		n, err := s.Resolve(ctx, []verification.Resolution{{SID: "VE1", From: []verification.Status{verification.Pending}, To: verification.Approved, At: at(time.Minute)}}, nil)
		if err != nil || n != 1 {
			t.Fatalf("Resolve = %d, %v", n, err)
		}
		// A second code of VE2 in minute 5 does not count it twice.
		m := newMessage("AC1", "SMVE2b", at(5*time.Minute))
		m.VerificationSID = "VE2"
		mustSend(t, s, m)

		got, err := s.VerificationStats(ctx, statsQuery(6))
		check(t, "VerificationStats", err)
		assertEqual(t, "VerificationStats", got, []operator.VerificationStat{
			{Bucket: 0, ServiceSID: "SV1", Prefix: "+96279", Status: "approved", Count: 1},
			{Bucket: 0, ServiceSID: "SV1", Prefix: "+96279", Status: "pending", Count: 1},
			{Bucket: 3, ServiceSID: "SV2", Prefix: "+96277", Status: "pending", Count: 1},
		})
		q := statsQuery(6)
		q.AccountSID = "AC2"
		got, err = s.VerificationStats(ctx, q)
		check(t, "VerificationStats(another account)", err)
		if len(got) != 0 {
			t.Errorf("VerificationStats of an account with none: %+v", got)
		}
	}},
	{"MessagesSearch", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		// SM0..SM5 a minute apart; even ones to +96279..., odd to +96277...;
		// SM4 and SM5 at the same time (SID breaks the tie); SM1 sent.
		for i := range 6 {
			m := newMessage("AC1", fmt.Sprintf("SM%d", i), at(time.Duration(min(i, 4))*time.Minute))
			m.To = fmt.Sprintf("+96279000000%d", i)
			if i%2 == 1 {
				m.To = fmt.Sprintf("+96277000000%d", i)
			}
			mustSend(t, s, m)
		}
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "c", At: at(2 * time.Minute)}))
		other := newMessage("AC2", "SM9", at(time.Minute))
		other.To = "+962790000000"
		mustSend(t, s, other)
		for _, tt := range []struct {
			name string
			f    message.Filter
			want string
		}{
			{"all, newest first", message.Filter{AccountSID: "AC1"}, "[SM5 SM4 SM3 SM2 SM1 SM0]"},
			{"number", message.Filter{AccountSID: "AC1", To: "+962790000000"}, "[SM0]"},
			{"prefix", message.Filter{AccountSID: "AC1", ToPrefix: "+96277"}, "[SM5 SM3 SM1]"},
			{"status", message.Filter{AccountSID: "AC1", Status: message.Sent}, "[SM1]"},
			{"since", message.Filter{AccountSID: "AC1", CreatedFrom: at(3 * time.Minute)}, "[SM5 SM4 SM3]"},
			{"until", message.Filter{AccountSID: "AC1", CreatedUntil: at(time.Minute)}, "[SM0]"},
			{"range and prefix", message.Filter{AccountSID: "AC1", ToPrefix: "+96279", CreatedFrom: at(time.Minute), CreatedUntil: at(4 * time.Minute)}, "[SM2]"},
			{"limit", message.Filter{AccountSID: "AC1", Limit: 2}, "[SM5 SM4]"},
			{"older than SM5 (same time)", message.Filter{AccountSID: "AC1", Cursor: &message.Cursor{CreatedAt: at(4 * time.Minute), SID: "SM5"}, Limit: 2}, "[SM4 SM3]"},
			{"another account", message.Filter{AccountSID: "AC2"}, "[SM9]"},
		} {
			got, err := s.Messages(ctx, tt.f)
			check(t, "Messages("+tt.name+")", err)
			if g := fmt.Sprint(messageSIDs(got)); g != tt.want {
				t.Errorf("Messages(%s) = %s, want %s", tt.name, g, tt.want)
			}
		}
		got, err := s.Messages(ctx, message.Filter{AccountSID: "AC1", To: "+962770000001"})
		check(t, "Messages", err)
		if len(got) == 1 {
			want, _ := s.Message(ctx, "AC1", "SM1")
			assertEqual(t, "Messages' message", got[0], want)
		}
	}},
}
