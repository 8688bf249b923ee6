package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/store"
)

// callbacksOf stores a received message of AC1 per subject with the given
// callbacks (the way callbacks get into a store with their change).
func callbacksOf(t *testing.T, s Store, subject string, cbs ...callback.Callback) {
	t.Helper()
	m := message.Message{SID: subject, AccountSID: "AC1", Direction: message.Inbound, From: to, To: "MyApp", Body: "hi",
		Status: message.Received, Encoding: "GSM-7", Segments: 1, CreatedAt: at(0), UpdatedAt: at(0)}
	check(t, "InsertInbound", s.InsertInbound(ctx, m, nil, cbs))
}

func newCallback(sid, subject string, created time.Duration) callback.Callback {
	return callback.Callback{SID: sid, Subject: subject, AccountSID: "AC1", URL: "https://example.com/hook?k=" + sid,
		Body: "MessageSid=" + subject + "&MessageStatus=received", NextAttemptAt: at(created), CreatedAt: at(created)}
}

func callbackSIDs(cbs []callback.Callback) string {
	var out []string
	for _, c := range cbs {
		out = append(out, c.SID)
	}
	return fmt.Sprint(out)
}

var callbackTests = []testCase{
	{"ClaimInOrderPerSubject", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		callbacksOf(t, s, "SM1", newCallback("CB1", "SM1", 0), newCallback("CB2", "SM1", time.Second))
		callbacksOf(t, s, "SM2", newCallback("CB3", "SM2", 0))
		got, err := s.ClaimCallbacks(ctx, at(time.Minute), at(2*time.Minute), 10)
		check(t, "ClaimCallbacks", err)
		if callbackSIDs(got) != "[CB1 CB3]" {
			t.Fatalf("claimed %s, want [CB1 CB3]: one per subject, the oldest, while it is pending", callbackSIDs(got))
		}
		want := newCallback("CB1", "SM1", 0)
		want.NextAttemptAt = at(2 * time.Minute)
		assertEqual(t, "claimed CB1", got[0], want)
		if again, _ := s.ClaimCallbacks(ctx, at(time.Minute), at(2*time.Minute), 10); len(again) != 0 {
			t.Fatalf("claimed again during the lease: %s", callbackSIDs(again))
		}
		// CB1 fails: retried later; CB2 waits for it.
		a := callback.Attempt{CallbackSID: "CB1", Attempt: 1, Subject: "SM1", URL: want.URL, At: at(time.Minute), StatusCode: 500, Error: "500", Duration: time.Millisecond}
		check(t, "RetryCallback", s.RetryCallback(ctx, got[0], a, at(10*time.Minute)))
		check(t, "FinishCallback(CB3)", s.FinishCallback(ctx, got[1], callback.Attempt{CallbackSID: "CB3", Attempt: 1, Subject: "SM2", At: at(time.Minute), StatusCode: 204}))
		if got, _ := s.ClaimCallbacks(ctx, at(5*time.Minute), at(6*time.Minute), 10); len(got) != 0 {
			t.Fatalf("claimed %s while CB1 waits for its retry (CB2 must wait behind it)", callbackSIDs(got))
		}
		got, err = s.ClaimCallbacks(ctx, at(10*time.Minute), at(11*time.Minute), 10)
		if err != nil || callbackSIDs(got) != "[CB1]" || got[0].Attempts != 1 {
			t.Fatalf("at the retry: %+v, %v; want CB1 with 1 attempt", got, err)
		}
		check(t, "FinishCallback(CB1)", s.FinishCallback(ctx, got[0], callback.Attempt{CallbackSID: "CB1", Attempt: 2, Subject: "SM1", At: at(10 * time.Minute), StatusCode: 200}))
		got, err = s.ClaimCallbacks(ctx, at(10*time.Minute), at(11*time.Minute), 10)
		if err != nil || callbackSIDs(got) != "[CB2]" {
			t.Fatalf("after CB1: %s, %v; want [CB2]", callbackSIDs(got), err)
		}
		wantNotFound(t, "FinishCallback of a finished callback", s.FinishCallback(ctx, callback.Callback{SID: "CB3"}, callback.Attempt{CallbackSID: "CB3", Attempt: 9, At: at(0)}))
		wantNotFound(t, "RetryCallback of an unknown callback", s.RetryCallback(ctx, callback.Callback{SID: "CB9"}, callback.Attempt{CallbackSID: "CB9", Attempt: 1, At: at(0)}, at(0)))
	}},
	{"ReleaseWithoutAttempt", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		callbacksOf(t, s, "SM1", newCallback("CB1", "SM1", 0))
		got, err := s.ClaimCallbacks(ctx, at(time.Minute), at(2*time.Minute), 10)
		if err != nil || callbackSIDs(got) != "[CB1]" {
			t.Fatalf("claimed %s, %v", callbackSIDs(got), err)
		}
		// A release naming another lease (one that ended, and the callback
		// was claimed again) changes nothing.
		check(t, "ReleaseCallbacks (stale)", s.ReleaseCallbacks(ctx, []callback.Release{{SID: "CB1", LeaseUntil: at(90 * time.Second), Due: at(time.Minute)}}))
		if again, _ := s.ClaimCallbacks(ctx, at(time.Minute), at(2*time.Minute), 10); len(again) != 0 {
			t.Fatalf("a stale release let %s be claimed during the lease", callbackSIDs(again))
		}
		check(t, "ReleaseCallbacks", s.ReleaseCallbacks(ctx, []callback.Release{{SID: "CB1", LeaseUntil: got[0].NextAttemptAt, Due: at(80 * time.Second)}}))
		if again, _ := s.ClaimCallbacks(ctx, at(70*time.Second), at(3*time.Minute), 10); len(again) != 0 {
			t.Fatalf("claimed %s before its new due time", callbackSIDs(again))
		}
		again, err := s.ClaimCallbacks(ctx, at(80*time.Second), at(3*time.Minute), 10)
		if err != nil || callbackSIDs(again) != "[CB1]" || again[0].Attempts != 0 {
			t.Fatalf("at its new due time, before the old lease's end: %+v, %v; want CB1 with no attempt", again, err)
		}
		check(t, "ReleaseCallbacks (none)", s.ReleaseCallbacks(ctx, nil))
		// The backlog counts it, claimed or not, until it is finished.
		callbacksOf(t, s, "SM2", newCallback("CB2", "SM2", -time.Second))
		n, oldest, err := s.CallbackBacklog(ctx)
		if err != nil || n != 2 || !oldest.Equal(at(-time.Second)) {
			t.Fatalf("CallbackBacklog = %d, %s, %v; want 2, the oldest made at %s", n, oldest, err, at(-time.Second))
		}
		check(t, "FinishCallback", s.FinishCallback(ctx, again[0], callback.Attempt{CallbackSID: "CB1", Attempt: 1, Subject: "SM1", At: at(80 * time.Second), StatusCode: 200}))
		if n, _, err := s.CallbackBacklog(ctx); err != nil || n != 1 {
			t.Fatalf("CallbackBacklog after one finished = %d, %v; want 1", n, err)
		}
	}},
	{"LimitAndDue", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		for i := range 5 {
			sid := fmt.Sprintf("SM%d", i)
			callbacksOf(t, s, sid, newCallback(fmt.Sprintf("CB%d", i), sid, time.Duration(i)*time.Second))
		}
		if got, _ := s.ClaimCallbacks(ctx, at(2*time.Second), at(time.Minute), 10); callbackSIDs(got) != "[CB0 CB1 CB2]" {
			t.Errorf("due by 2s: %s", callbackSIDs(got))
		}
		if got, _ := s.ClaimCallbacks(ctx, at(time.Hour), at(2*time.Hour), 1); callbackSIDs(got) != "[CB3]" {
			t.Errorf("limit 1: %s", callbackSIDs(got))
		}
		n, err := s.ReleaseLeases(ctx)
		check(t, "ReleaseLeases", err)
		_ = n
		if got, _ := s.ClaimCallbacks(ctx, at(time.Hour), at(2*time.Hour), 10); callbackSIDs(got) != "[CB0 CB1 CB2 CB3 CB4]" {
			t.Errorf("after ReleaseLeases: %s, want all", callbackSIDs(got))
		}
	}},
	{"ConcurrentClaimsTakeEachOnce", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		for i := range 60 {
			sid := fmt.Sprintf("SM%02d", i)
			callbacksOf(t, s, sid, newCallback(fmt.Sprintf("CB%02d", i), sid, 0))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for {
					got, err := s.ClaimCallbacks(ctx, at(0), at(time.Hour), 4)
					if err != nil || len(got) == 0 {
						if err != nil && !errors.Is(err, store.ErrClosed) {
							t.Errorf("ClaimCallbacks: %v", err)
						}
						return
					}
					mu.Lock()
					for _, c := range got {
						seen[c.SID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 60 {
			t.Errorf("%d of 60 callbacks claimed", len(seen))
		}
		for sid, n := range seen {
			if n != 1 {
				t.Errorf("%s claimed %d times", sid, n)
			}
		}
	}},
}

var inboundTests = []testCase{
	{"PartsCollectInOrder", func(t *testing.T, s Store) {
		p := message.InboundPart{Connector: "zain", From: "+962790000000", To: "MyApp", Ref: 7, Total: 3, ReceivedAt: at(0)}
		add := func(seq int, text string) []message.InboundPart {
			t.Helper()
			q := p
			q.Seq, q.Text = seq, text
			parts, err := s.AddInboundPart(ctx, q)
			check(t, "AddInboundPart", err)
			return parts
		}
		add(3, "c")
		add(1, "a")
		if got := add(1, "a"); len(got) != 2 {
			t.Fatalf("a repeated part counted twice: %d parts", len(got))
		}
		other := p
		other.Ref, other.Seq, other.Text = 8, 1, "x" // another message
		if got, err := s.AddInboundPart(ctx, other); err != nil || len(got) != 1 {
			t.Fatalf("another message's part: %+v, %v", got, err)
		}
		got := add(2, "b")
		if len(got) != 3 || got[0].Text != "a" || got[1].Text != "b" || got[2].Text != "c" || !got[0].ReceivedAt.Equal(at(0)) {
			t.Fatalf("parts = %+v, want a, b, c in order", got)
		}
		m := message.Message{SID: "SM1", AccountSID: "AC1", Direction: message.Inbound, From: p.From, To: p.To, Body: "abc",
			Status: message.Received, Encoding: "GSM-7", Segments: 3, Connector: "zain", CreatedAt: at(0), UpdatedAt: at(0), Channel: message.SMS}
		cb := newCallback("CB1", "SM1", 0)
		check(t, "InsertInbound", s.InsertInbound(ctx, m, &p, []callback.Callback{cb}))
		stored, err := s.Message(ctx, "AC1", "SM1")
		check(t, "Message", err)
		assertEqual(t, "the inbound message", stored, m)
		// The same parts assembled twice (two receivers at once): refused.
		m2 := m
		m2.SID = "SM2"
		wantErr(t, "a second InsertInbound of the same parts", s.InsertInbound(ctx, m2, &p, nil), store.ErrConflict)
		if _, err := s.Message(ctx, "AC1", "SM2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused message was stored (%v)", err)
		}
		if got := add(1, "new"); len(got) != 1 {
			t.Fatalf("parts left after the message was stored: %+v", got)
		}
		if cbs := claimAllCallbacks(t, s, at(time.Minute)); callbackSIDs(cbs) != "[CB1]" {
			t.Errorf("callbacks %s, want [CB1]", callbackSIDs(cbs))
		}
	}},
	{"UnassignedIsListedUnderNoAccount", func(t *testing.T, s Store) {
		m := message.Message{SID: "SM1", Direction: message.Inbound, From: to, To: "MyApp", Body: "hi",
			Status: message.Received, Encoding: "GSM-7", Segments: 1, CreatedAt: at(0), UpdatedAt: at(0)}
		check(t, "InsertInbound", s.InsertInbound(ctx, m, nil, nil))
		got, err := s.Messages(ctx, message.Filter{})
		if err != nil || len(got) != 1 || got[0].SID != "SM1" {
			t.Errorf("unassigned inbound messages: %v, %v", messageSIDs(got), err)
		}
	}},
}

var sandboxTests = []testCase{
	{"RedactDeleteAndForgetReachIt", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		var sids []string
		for i := range 3 {
			m := newMessage("AC1", fmt.Sprintf("SM%d", i), at(time.Duration(i)*time.Hour))
			mustSend(t, s, m)
			check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: m.SID, Status: message.Delivered, At: m.CreatedAt}))
			check(t, "InsertSandboxEntry", s.InsertSandboxEntry(ctx, message.SandboxEntry{SID: m.SID, AccountSID: "AC1", From: m.From, To: to,
				Body: "secret text " + m.SID, Segments: 1, Encoding: "GSM-7", CreatedAt: m.CreatedAt}))
			sids = append(sids, m.SID)
		}
		check(t, "RedactMessage", s.RedactMessage(ctx, "AC1", sids[1], []message.Status{message.Delivered}, at(3*time.Hour)))
		check(t, "DeleteMessage", s.DeleteMessage(ctx, "AC1", sids[2]))
		got, err := s.SandboxEntries(ctx, "AC1", to, 10)
		check(t, "SandboxEntries", err)
		bodies := map[string]string{}
		for _, e := range got {
			bodies[e.SID] = e.Body
		}
		if _, ok := bodies[sids[2]]; ok || bodies[sids[1]] != "" || bodies[sids[0]] != "secret text "+sids[0] || len(got) != 2 {
			t.Fatalf("the sandbox after redacting %s and deleting %s: %v", sids[1], sids[2], bodies)
		}
		n, err := s.ForgetSandbox(ctx, at(time.Hour))
		check(t, "ForgetSandbox", err)
		if got, _ := s.SandboxEntries(ctx, "AC1", to, 10); n != 1 || len(got) != 1 || got[0].SID != sids[1] {
			t.Fatalf("ForgetSandbox before the second hour: forgot %d, left %v", n, got)
		}
	}},
	{"InsertTwiceKeepsOne", func(t *testing.T, s Store) {
		e := message.SandboxEntry{SID: "SM1", AccountSID: "AC1", From: "otpgate", To: to, Body: "Your code is 123456", Segments: 1, Encoding: "GSM-7", CreatedAt: at(1), Channel: message.SMS}
		for i := range 2 { // as when a message is sent again after a crash
			check(t, fmt.Sprintf("InsertSandboxEntry #%d", i+1), s.InsertSandboxEntry(ctx, e))
		}
		got, err := s.SandboxEntries(ctx, "AC1", to, 10)
		check(t, "SandboxEntries", err)
		assertEqual(t, "SandboxEntries", got, []message.SandboxEntry{e})
	}},
	{"ListNewestFirstScoped", func(t *testing.T, s Store) {
		entry := func(sid, account, to string, created time.Time) message.SandboxEntry {
			return message.SandboxEntry{SID: sid, AccountSID: account, From: "otpgate", To: to, Body: "code (" + sid + ")", Segments: 1, Encoding: "GSM-7", CreatedAt: created, Channel: message.SMS}
		}
		var mine []message.SandboxEntry // newest first
		for i := 5; i > 0; i-- {
			mine = append(mine, entry(fmt.Sprintf("SM%d", i), "AC1", to, at(time.Duration(i)*(time.Second+1))))
		}
		others := []message.SandboxEntry{entry("SM6", "AC2", to, at(time.Hour)), entry("SM7", "AC1", to2, at(time.Hour))}
		for _, i := range []int{2, 0, 4, 1, 3} {
			check(t, "InsertSandboxEntry", s.InsertSandboxEntry(ctx, mine[i]))
		}
		for _, e := range others {
			check(t, "InsertSandboxEntry", s.InsertSandboxEntry(ctx, e))
		}
		for _, tt := range []struct {
			account, to string
			limit       int
			want        []message.SandboxEntry
		}{
			{"AC1", to, 3, mine[:3]}, {"AC1", to, 10, mine}, {"AC1", to, 1, mine[:1]},
			{"AC1", to2, 10, others[1:]}, {"AC2", to, 10, others[:1]}, {"AC2", to2, 10, nil}, {"AC3", to, 10, nil},
		} {
			what := fmt.Sprintf("SandboxEntries(%s, %s, %d)", tt.account, tt.to, tt.limit)
			got, err := s.SandboxEntries(ctx, tt.account, tt.to, tt.limit)
			check(t, what, err)
			assertEqual(t, what, got, tt.want)
		}
	}},
}

var closeTests = []testCase{
	{"PingAnswers", func(t *testing.T, s Store) {
		check(t, "Ping", s.Ping(ctx))
	}},
	{"OpsAfterCloseAreRefused", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		check(t, "Close", s.Close())
		wantErr(t, "InsertAccount after Close", s.InsertAccount(ctx, newAccount("AC2")), store.ErrClosed)
		m := newMessage("AC1", "SM1", at(0))
		wantErr(t, "InsertSend after Close", s.InsertSend(ctx, m, newOutbound(m), nil), store.ErrClosed)
		_, err := s.ClaimOutbox(ctx, at(0), at(time.Minute), 1)
		wantErr(t, "ClaimOutbox after Close", err, store.ErrClosed)
		check(t, "second Close", s.Close())
	}},
	{"CloseDuringWrites", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				m := newMessage("AC1", fmt.Sprintf("SM%03d", i), at(0))
				err := s.InsertSend(ctx, m, newOutbound(m), nil)
				if err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("InsertSend during Close = %v, want nil or store.ErrClosed", err)
				}
			})
		}
		check(t, "Close", s.Close())
		wg.Wait()
	}},
}
