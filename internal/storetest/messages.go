package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/store"
)

func messageSIDs(ms []message.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.SID)
	}
	return out
}

var messageTests = []testCase{
	{"InsertSendThenRead", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		full := message.Message{
			SID: "SM1", AccountSID: "AC1", VerificationSID: "", Direction: message.OutboundAPI,
			From: "otpgate", To: to, Body: "Ваш код ****** 🙂", Status: message.Queued,
			Encoding: "UCS-2", Segments: 2, CreatedAt: at(0), UpdatedAt: at(time.Second + 1),
			StatusCallback: "https://example.com/status?a=1&b=2", Channel: message.SMS,
		}
		bare := newMessage("AC1", "SM2", at(time.Second))
		for _, m := range []message.Message{full, bare} {
			mustSend(t, s, m)
			got, err := s.Message(ctx, "AC1", m.SID)
			check(t, "Message("+m.SID+")", err)
			assertEqual(t, "Message("+m.SID+")", got, m)
		}
		if err := s.InsertSend(ctx, bare, newOutbound(bare), nil); err == nil {
			t.Error("a second InsertSend with the same SID succeeded")
		}
	}},
	{"ScopedAndNotFound", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		mustSend(t, s, newMessage("AC1", "SM1", at(0)))
		for _, tt := range []struct{ account, sid string }{{"AC2", "SM1"}, {"AC1", "SM2"}, {"", "SM1"}} {
			_, err := s.Message(ctx, tt.account, tt.sid)
			wantNotFound(t, fmt.Sprintf("Message(%q, %q)", tt.account, tt.sid), err)
		}
	}},
	{"ListFiltersAndPages", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		// SM0..SM5 of AC1, a second apart; SM1 and SM3 to to2; SM4 from "Bank";
		// SM0-SM2 sent (at their time + 1 min); SM5 shares SM4's time.
		for i := range 6 {
			created := at(time.Duration(min(i, 4)) * time.Second)
			m := newMessage("AC1", fmt.Sprintf("SM%d", i), created)
			if i == 1 || i == 3 {
				m.To = to2
			}
			if i == 4 {
				m.From = "Bank"
			}
			mustSend(t, s, m)
			if i <= 2 {
				check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: m.SID, Status: message.Sent, Connector: "c", At: created.Add(time.Minute)}))
			}
		}
		mustSend(t, s, newMessage("AC2", "SM9", at(time.Hour)))
		tests := []struct {
			name string
			f    message.Filter
			want string
		}{
			{"all, newest first (SID breaks a tie)", message.Filter{AccountSID: "AC1"}, "[SM5 SM4 SM3 SM2 SM1 SM0]"},
			{"to", message.Filter{AccountSID: "AC1", To: to2}, "[SM3 SM1]"},
			{"from", message.Filter{AccountSID: "AC1", From: "Bank"}, "[SM4]"},
			{"status", message.Filter{AccountSID: "AC1", Status: message.Sent}, "[SM2 SM1 SM0]"},
			{"sent from", message.Filter{AccountSID: "AC1", SentFrom: at(time.Minute + time.Second)}, "[SM2 SM1]"},
			{"sent until", message.Filter{AccountSID: "AC1", SentUntil: at(time.Minute + time.Second)}, "[SM0]"},
			{"limit", message.Filter{AccountSID: "AC1", Limit: 2}, "[SM5 SM4]"},
			{"after a cursor", message.Filter{AccountSID: "AC1", Cursor: &message.Cursor{CreatedAt: at(4 * time.Second), SID: "SM5"}, Limit: 2}, "[SM4 SM3]"},
			{"before a cursor", message.Filter{AccountSID: "AC1", Cursor: &message.Cursor{CreatedAt: at(time.Second), SID: "SM1", Before: true}, Limit: 2}, "[SM3 SM2]"},
			{"another account", message.Filter{AccountSID: "AC2"}, "[SM9]"},
			{"none", message.Filter{AccountSID: "AC3"}, "[]"},
		}
		for _, tt := range tests {
			got, err := s.Messages(ctx, tt.f)
			check(t, tt.name, err)
			if g := fmt.Sprint(messageSIDs(got)); g != tt.want {
				t.Errorf("%s: Messages = %s, want %s", tt.name, g, tt.want)
			}
		}
	}},
	{"Redact", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		m := newMessage("AC1", "SM1", at(0))
		mustSend(t, s, m)
		sent := []message.Status{message.Sent, message.Delivered}
		wantErr(t, "RedactMessage while queued", s.RedactMessage(ctx, "AC1", "SM1", sent, at(time.Second)), store.ErrConflict)
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, At: at(time.Second)}))
		wantNotFound(t, "RedactMessage of another account's message", s.RedactMessage(ctx, "AC2", "SM1", sent, at(2*time.Second)))
		wantNotFound(t, "RedactMessage of an unknown message", s.RedactMessage(ctx, "AC1", "SM9", sent, at(2*time.Second)))
		check(t, "RedactMessage", s.RedactMessage(ctx, "AC1", "SM1", sent, at(2*time.Second)))
		got, err := s.Message(ctx, "AC1", "SM1")
		if err != nil || got.Body != "" || !got.UpdatedAt.Equal(at(2*time.Second)) || got.Status != message.Sent {
			t.Errorf("after RedactMessage: body %q, updated %v, status %s, %v", got.Body, got.UpdatedAt, got.Status, err)
		}
	}},
	{"Cancel", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		m := newMessage("AC1", "SM1", at(0))
		m.StatusCallback = "https://example.com/cb"
		mustSend(t, s, m)
		mustSend(t, s, newMessage("AC1", "SM2", at(0)))
		check(t, "CancelMessage", s.CancelMessage(ctx, "AC1", "SM1", at(time.Second)))
		got, err := s.Message(ctx, "AC1", "SM1")
		if err != nil || got.Status != message.Canceled || !got.UpdatedAt.Equal(at(time.Second)) {
			t.Errorf("after CancelMessage: %s at %v, %v", got.Status, got.UpdatedAt, err)
		}
		if claimed := mustClaim(t, s, at(time.Hour), at(2*time.Hour), 10); fmt.Sprint(sids(claimed)) != "[SM2]" {
			t.Errorf("claimable after a cancel: %v, want [SM2]", sids(claimed))
		}
		cbs := claimAllCallbacks(t, s, at(time.Hour))
		if len(cbs) != 1 || cbs[0].Subject != "SM1" || cbs[0].URL != m.StatusCallback {
			t.Errorf("callbacks after a cancel: %+v, want SM1's status callback", cbs)
		}
		wantErr(t, "CancelMessage of a canceled message", s.CancelMessage(ctx, "AC1", "SM1", at(2*time.Second)), store.ErrConflict)
		wantErr(t, "CancelMessage of a claimed message", s.CancelMessage(ctx, "AC1", "SM2", at(2*time.Second)), store.ErrConflict)
		wantNotFound(t, "CancelMessage of another account's message", s.CancelMessage(ctx, "AC2", "SM2", at(2*time.Second)))
		wantNotFound(t, "CancelMessage of an unknown message", s.CancelMessage(ctx, "AC1", "SM9", at(2*time.Second)))
		// A message stored with a lease (the hand-off) cannot be canceled either.
		m3 := newMessage("AC1", "SM3", at(0))
		o3 := newOutbound(m3)
		o3.LeaseUntil = at(time.Hour)
		check(t, "InsertSend with a lease", s.InsertSend(ctx, m3, o3, nil))
		wantErr(t, "CancelMessage of a leased message", s.CancelMessage(ctx, "AC1", "SM3", at(time.Second)), store.ErrConflict)
	}},
	{"Delete", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		mustSend(t, s, newMessage("AC1", "SM1", at(0)))
		mustSend(t, s, newMessage("AC1", "SM2", at(time.Second)))
		wantNotFound(t, "DeleteMessage of another account's message", s.DeleteMessage(ctx, "AC2", "SM1"))
		check(t, "DeleteMessage", s.DeleteMessage(ctx, "AC1", "SM1"))
		_, err := s.Message(ctx, "AC1", "SM1")
		wantNotFound(t, "Message after DeleteMessage", err)
		wantNotFound(t, "second DeleteMessage", s.DeleteMessage(ctx, "AC1", "SM1"))
		if claimed := mustClaim(t, s, at(time.Hour), at(2*time.Hour), 10); fmt.Sprint(sids(claimed)) != "[SM2]" {
			t.Errorf("claimable after a delete: %v, want [SM2] (a deleted message is not sent)", sids(claimed))
		}
	}},
}
