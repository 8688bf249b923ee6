package storetest

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// queueMixed stores messages due at mixed times, two of them not yet due at
// 0, and returns those due by 0, oldest due first (SID order breaks ties).
func queueMixed(t *testing.T, s Store) []message.Outbound {
	t.Helper()
	all := mustQueue(t, s, at(-time.Second), at(-time.Hour), at(time.Minute), at(-time.Second), at(-2*time.Minute), at(time.Hour), at(0))
	var due []message.Outbound
	for _, o := range all {
		if !o.CreatedAt.After(at(0)) {
			due = append(due, o)
		}
	}
	sort.SliceStable(due, func(i, j int) bool {
		if !due[i].CreatedAt.Equal(due[j].CreatedAt) {
			return due[i].CreatedAt.Before(due[j].CreatedAt)
		}
		return due[i].SID < due[j].SID
	})
	return due
}

// leased is what a claim until lease returns of o.
func leased(o message.Outbound, lease time.Time) message.Outbound {
	o.LeaseUntil = lease
	return o
}

func leasedAll(os []message.Outbound, lease time.Time) []message.Outbound {
	out := make([]message.Outbound, len(os))
	for i, o := range os {
		out[i] = leased(o, lease)
	}
	return out
}

var outboxTests = []testCase{
	{"ClaimTakesOldestDueFirst", func(t *testing.T, s Store) {
		due := queueMixed(t, s)
		for _, limit := range []int{1, 3, 5, 10} {
			got := mustClaim(t, s, at(0), at(time.Minute), limit)
			if limit <= len(due) {
				assertEqual(t, fmt.Sprintf("ClaimOutbox(limit %d)", limit), got, leasedAll(due[:limit], at(time.Minute)))
			} else {
				assertEqual(t, fmt.Sprintf("ClaimOutbox(limit %d)", limit), got, leasedAll(due, at(time.Minute)))
			}
			check(t, "ReleaseLeases", func() error { _, err := s.ReleaseLeases(ctx); return err }())
			// Released: due again at their creation.
		}
	}},
	{"RoundTripOfTheOutboxEntry", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		m := newMessage("AC1", "SM1", at(0))
		m.StatusCallback = "https://example.com/cb"
		o := newOutbound(m)
		o.Payload = []byte{0, 1, 2, 3, 250}
		o.ExpiresAt = time.Time{} // never
		check(t, "InsertSend", s.InsertSend(ctx, m, o, nil))
		got := mustClaim(t, s, at(0), at(time.Minute), 10)
		assertEqual(t, "claimed", got, []message.Outbound{leased(o, at(time.Minute))})
	}},
	{"EmailKeepsItsChannelAndSubject", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		m := newMessage("AC1", "SM1", at(0))
		m.To, m.Channel, m.Subject = "Jo.Smith@xn--bcher-kva.example", message.Email, "رمز التحقق: Acme"
		m.Encoding, m.Segments = "", 0
		o := newOutbound(m)
		check(t, "InsertSend", s.InsertSend(ctx, m, o, nil))
		sms := newMessage("AC1", "SM2", at(time.Second))
		smsOut := mustSend(t, s, sms)
		got, err := s.Message(ctx, "AC1", m.SID)
		check(t, "Message", err)
		assertEqual(t, "the email message", got, m)
		assertEqual(t, "claimed", mustClaim(t, s, at(time.Hour), at(2*time.Hour), 10),
			[]message.Outbound{leased(o, at(2*time.Hour)), leased(smsOut, at(2*time.Hour))})
		e := message.SandboxEntry{SID: m.SID, AccountSID: "AC1", From: m.From, To: m.To, Body: "Your code is 123456",
			CreatedAt: at(0), Channel: message.Email, Subject: m.Subject}
		check(t, "InsertSandboxEntry", s.InsertSandboxEntry(ctx, e))
		entries, err := s.SandboxEntries(ctx, "AC1", m.To, 10)
		check(t, "SandboxEntries", err)
		assertEqual(t, "the email in the sandbox", entries, []message.SandboxEntry{e})
		if other, err := s.SandboxEntries(ctx, "AC2", m.To, 10); err != nil || len(other) != 0 {
			t.Fatalf("another account's sandbox for the address: %v, %v", other, err)
		}
		if _, err := s.Message(ctx, "AC2", m.SID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another account reads the email: %v", err)
		}
	}},
	{"LeaseHoldsThenExpires", func(t *testing.T, s Store) {
		items := mustQueue(t, s, at(-time.Second))
		lease := at(time.Minute)
		assertEqual(t, "first claim", mustClaim(t, s, at(0), lease, 10), leasedAll(items, lease))
		for _, now := range []time.Time{at(0), at(30 * time.Second), lease.Add(-time.Nanosecond)} {
			if got := mustClaim(t, s, now, now.Add(time.Minute), 10); len(got) != 0 {
				t.Errorf("claim at %v, before the lease ends at %v, got %v", now.Sub(base), lease.Sub(base), sids(got))
			}
		}
		// The claimer crashed: the lease runs out and the message comes back as it was.
		assertEqual(t, "claim when the lease ends", mustClaim(t, s, lease, at(2*time.Minute), 10), leasedAll(items, at(2*time.Minute)))
		if got := mustClaim(t, s, at(90*time.Second), at(3*time.Minute), 10); len(got) != 0 {
			t.Errorf("claim during the second lease got %v", sids(got))
		}
	}},
	{"StoredWithALease", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		m := newMessage("AC1", "SM1", at(0))
		o := newOutbound(m)
		o.LeaseUntil = at(2 * time.Minute) // the hand-off: this process sends it
		check(t, "InsertSend", s.InsertSend(ctx, m, o, nil))
		if got := mustClaim(t, s, at(time.Minute), at(10*time.Minute), 10); len(got) != 0 {
			t.Fatalf("a message stored with a lease was claimed during it: %v", sids(got))
		}
		if next, err := s.NextDue(ctx); err != nil || !next.Equal(at(2*time.Minute)) {
			t.Errorf("NextDue = %v, %v; want the lease's end", next, err)
		}
		n, err := s.ReleaseLeases(ctx)
		if err != nil || n != 1 {
			t.Fatalf("ReleaseLeases = %d, %v; want the lease released", n, err)
		}
		if got := mustClaim(t, s, at(time.Minute), at(10*time.Minute), 10); len(got) != 1 {
			t.Fatalf("after ReleaseLeases: claimed %v, want SM1", sids(got))
		}
	}},
	{"RescheduleReleasesClaim", func(t *testing.T, s Store) {
		items := mustQueue(t, s, at(0))
		mustClaim(t, s, at(0), at(time.Hour), 10)
		next := at(10*time.Second + 1)
		check(t, "RescheduleOutbox", s.RescheduleOutbox(ctx, items[0].SID, 3, next, "connector timeout"))
		if got, err := s.NextDue(ctx); err != nil || !got.Equal(next) {
			t.Errorf("NextDue = %v, %v; want %v", got, err, next)
		}
		if got := mustClaim(t, s, next.Add(-time.Nanosecond), at(time.Hour), 10); len(got) != 0 {
			t.Errorf("claim before the new due time got %v", sids(got))
		}
		want := leased(items[0], at(time.Hour))
		want.Attempts, want.LastError = 3, "connector timeout"
		assertEqual(t, "claim at the new due time", mustClaim(t, s, next, at(time.Hour), 10), []message.Outbound{want})
		wantNotFound(t, "RescheduleOutbox of an unknown message", s.RescheduleOutbox(ctx, "SM999", 1, next, "x"))
	}},
	{"NextDueOfAnEmptyOutbox", func(t *testing.T, s Store) {
		_, err := s.NextDue(ctx)
		wantNotFound(t, "NextDue of an empty outbox", err)
		items := mustQueue(t, s, at(time.Minute), at(time.Second))
		if next, err := s.NextDue(ctx); err != nil || !next.Equal(at(time.Second)) {
			t.Errorf("NextDue = %v, %v; want the earliest", next, err)
		}
		for _, o := range items {
			check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: o.SID, Status: message.Sent, At: at(0)}))
		}
		_, err = s.NextDue(ctx)
		wantNotFound(t, "NextDue once all were sent", err)
	}},
	{"ConcurrentClaimsTakeEachOnce", func(t *testing.T, s Store) {
		var times []time.Time
		for i := range 100 {
			times = append(times, at(time.Duration(-i)*time.Millisecond))
		}
		mustQueue(t, s, times...)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				for {
					got, err := s.ClaimOutbox(ctx, at(0), at(time.Hour), 7)
					if err != nil {
						t.Errorf("ClaimOutbox: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, o := range got {
						seen[o.SID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for sid, n := range seen {
			if n != 1 {
				t.Errorf("%s claimed %d times", sid, n)
			}
		}
		if len(seen) != 100 {
			t.Errorf("%d of 100 messages claimed", len(seen))
		}
	}},
}

// applyReceipt applies r (whether it stored a callback is
// ReceiptSaysWhetherACallbackWasStored's business).
func applyReceipt(s Store, r message.Receipt) error {
	_, err := s.ApplyReceipt(ctx, r)
	return err
}

// sendOne stores a queued message SM1 of AC1 (with a status callback when cb).
func sendOne(t *testing.T, s Store, cb bool) message.Message {
	t.Helper()
	MustInsertAccount(t, s, newAccount("AC1"))
	m := newMessage("AC1", "SM1", at(0))
	if cb {
		m.StatusCallback = "https://example.com/status"
	}
	mustSend(t, s, m)
	return m
}

func statusesOf(t *testing.T, s Store, cbs int) []string {
	t.Helper()
	var out []string
	for _, c := range claimAllCallbacks(t, s, at(time.Hour)) {
		out = append(out, c.Subject+":"+statusParam(c.Body))
	}
	if len(out) != cbs {
		t.Errorf("%d callbacks %v, want %d", len(out), out, cbs)
	}
	return out
}

// statusParam is the MessageStatus of a form-encoded status callback.
func statusParam(body string) string {
	const key = "MessageStatus="
	for _, kv := range splitAmp(body) {
		if len(kv) > len(key) && kv[:len(key)] == key {
			return kv[len(key):]
		}
	}
	return ""
}

func splitAmp(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '&' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

var outcomeTests = []testCase{
	{"SentThenDeliveredForwardOnly", func(t *testing.T, s Store) {
		m := sendOne(t, s, true)
		check(t, "RecordOutcome(sent)", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "zain",
			ProviderID: "7b", PartKeys: [][]string{{"7b", "123"}}, At: at(time.Second)}))
		got, err := s.Message(ctx, "AC1", "SM1")
		check(t, "Message", err)
		want := m
		want.Status, want.Connector, want.ProviderID, want.SentAt, want.UpdatedAt = message.Sent, "zain", "7b", at(time.Second), at(time.Second)
		assertEqual(t, "after sent", got, want)
		if claimed := mustClaim(t, s, at(time.Hour), at(2*time.Hour), 10); len(claimed) != 0 {
			t.Errorf("a sent message is still in the outbox: %v", sids(claimed))
		}
		wantNotFound(t, "a second outcome (no longer in the outbox)",
			s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Failed, At: at(2 * time.Second)}))
		// The receipt, by the part's id in the other base.
		check(t, "ApplyReceipt(delivered)", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"123", "7b"}, Status: message.Delivered, At: at(3 * time.Second)}))
		// A late undelivered does not move it back.
		check(t, "ApplyReceipt(undelivered, late)", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"7b"}, Status: message.Undelivered, ErrorCode: 1, At: at(4 * time.Second)}))
		got, _ = s.Message(ctx, "AC1", "SM1")
		if got.Status != message.Delivered || got.ErrorCode != 0 || got.Connector != "zain" || !got.SentAt.Equal(at(time.Second)) {
			t.Errorf("after the receipts: %+v", got)
		}
		if st := statusesOf(t, s, 2); fmt.Sprint(st) != "[SM1:sent SM1:delivered]" {
			t.Errorf("callbacks %v, want sent then delivered", st)
		}
	}},
	{"FailedWithError", func(t *testing.T, s Store) {
		sendOne(t, s, true)
		check(t, "RecordOutcome(failed)", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Failed, Connector: "zain",
			ErrorCode: 11, ErrorMessage: "smsc refused the message", At: at(time.Second)}))
		got, _ := s.Message(ctx, "AC1", "SM1")
		if got.Status != message.Failed || got.ErrorCode != 11 || got.ErrorMessage != "smsc refused the message" || !got.SentAt.IsZero() {
			t.Errorf("after failed: %+v", got)
		}
		statusesOf(t, s, 1)
	}},
	{"DeliveredOnSendAndNoCallbackWithoutURL", func(t *testing.T, s Store) {
		sendOne(t, s, false)
		check(t, "RecordOutcome(delivered)", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Delivered, Connector: "sandbox", At: at(time.Second)}))
		got, _ := s.Message(ctx, "AC1", "SM1")
		if got.Status != message.Delivered || !got.SentAt.Equal(at(time.Second)) {
			t.Errorf("after delivered on send: %+v", got)
		}
		statusesOf(t, s, 0)
	}},
	{"DeliveredIntoTheInboxInOneWrite", func(t *testing.T, s Store) {
		// The sandbox's delivery: the inbox entry is kept with the outcome.
		m := sendOne(t, s, false)
		e := message.SandboxEntry{SID: m.SID, AccountSID: "AC1", From: m.From, To: m.To, Body: "Your code is 123456",
			Segments: 1, Encoding: "GSM-7", CreatedAt: at(time.Second), Channel: message.SMS}
		check(t, "RecordOutcome(delivered, with the inbox entry)", s.RecordOutcome(ctx, message.Outcome{SID: m.SID, Status: message.Delivered,
			Connector: "sandbox", At: at(time.Second), Inbox: &e}))
		got, _ := s.Message(ctx, "AC1", m.SID)
		if got.Status != message.Delivered {
			t.Errorf("after delivered into the inbox: %+v", got)
		}
		inbox, err := s.SandboxEntries(ctx, "AC1", m.To, 10)
		check(t, "SandboxEntries", err)
		assertEqual(t, "the inbox", inbox, []message.SandboxEntry{e})

		// A message deleted while it was being delivered is not kept in the
		// inbox either: the outcome finds no message, and writes nothing.
		m2 := newMessage("AC1", "SM2", at(0))
		mustSend(t, s, m2)
		check(t, "DeleteMessage", s.DeleteMessage(ctx, "AC1", m2.SID))
		e2 := e
		e2.SID = m2.SID
		if err := s.RecordOutcome(ctx, message.Outcome{SID: m2.SID, Status: message.Delivered, Connector: "sandbox", At: at(time.Second), Inbox: &e2}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RecordOutcome of a deleted message: %v; want store.ErrNotFound", err)
		}
		inbox, err = s.SandboxEntries(ctx, "AC1", m.To, 10)
		check(t, "SandboxEntries", err)
		assertEqual(t, "the inbox after the deleted message's outcome", inbox, []message.SandboxEntry{e})
	}},
	{"DeliveredInTheWriteThatStoresIt", func(t *testing.T, s Store) {
		// The sandbox's delivery of a new send: recorded as the send is
		// stored, the message never in the outbox.
		MustInsertAccount(t, s, newAccount("AC1"))
		m := newMessage("AC1", "SM1", at(0))
		o := newOutbound(m)
		o.LeaseUntil = at(time.Minute)
		e := message.SandboxEntry{SID: m.SID, AccountSID: "AC1", From: m.From, To: m.To, Body: "Your code is 123456",
			Segments: 1, Encoding: "GSM-7", CreatedAt: at(0), Channel: message.SMS}
		o.Delivered = &message.Outcome{SID: m.SID, Status: message.Delivered, Connector: "sandbox", At: at(0), Inbox: &e}
		check(t, "InsertSend(delivered in its own write)", s.InsertSend(ctx, m, o, nil))
		got, err := s.Message(ctx, "AC1", m.SID)
		check(t, "Message", err)
		if got.Status != message.Delivered || got.Connector != "sandbox" || !got.SentAt.Equal(at(0)) || got.Body != m.Body {
			t.Errorf("the message delivered in its own write: %+v; want delivered by the sandbox at 0, its body masked", got)
		}
		inbox, err := s.SandboxEntries(ctx, "AC1", m.To, 10)
		check(t, "SandboxEntries", err)
		assertEqual(t, "the inbox", inbox, []message.SandboxEntry{e})
		claimed, err := s.ClaimOutbox(ctx, at(2*time.Hour), at(3*time.Hour), 10)
		check(t, "ClaimOutbox", err)
		if len(claimed) != 0 {
			t.Errorf("the outbox after a send delivered in its own write: %d messages; want none", len(claimed))
		}
		statusesOf(t, s, 0)

		// A send refused (its verification's guard fails) writes neither
		// its message nor its inbox entry.
		m2 := newMessage("AC1", "SM2", at(0))
		o2 := newOutbound(m2)
		e2 := e
		e2.SID = m2.SID
		o2.Delivered = &message.Outcome{SID: m2.SID, Status: message.Delivered, Connector: "sandbox", At: at(0), Inbox: &e2}
		v := newVerification("AC1", "VA1", "VE2", m2.To, at(0))
		v.SendAttempts = 2 // a resend of a verification that is not there
		m2.VerificationSID = v.SID
		if err := s.InsertSend(ctx, m2, o2, &verification.Change{V: v}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("InsertSend whose guard fails: %v; want store.ErrConflict", err)
		}
		if _, err := s.Message(ctx, "AC1", m2.SID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused send's message: %v; want store.ErrNotFound", err)
		}
		inbox, err = s.SandboxEntries(ctx, "AC1", m.To, 10)
		check(t, "SandboxEntries", err)
		assertEqual(t, "the inbox after the refused send", inbox, []message.SandboxEntry{e})
	}},
	{"MultipartDeliveredWhenEveryPartIs", func(t *testing.T, s Store) {
		sendOne(t, s, true)
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "zain", ProviderID: "1,2,3",
			PartKeys: [][]string{{"1"}, {"2"}, {"3"}}, At: at(time.Second)}))
		for i, key := range []string{"3", "1"} {
			check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{key}, Status: message.Delivered, At: at(time.Duration(2+i) * time.Second)}))
			if got, _ := s.Message(ctx, "AC1", "SM1"); got.Status != message.Sent {
				t.Fatalf("delivered before every part was (after part %s)", key)
			}
		}
		// On another connector the same id is another message's part.
		check(t, "ApplyReceipt on another connector", applyReceipt(s, message.Receipt{Connector: "orange", Keys: []string{"2"}, Status: message.Delivered, At: at(4 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM1"); got.Status != message.Sent {
			t.Fatal("a receipt of another connector delivered the message")
		}
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"2"}, Status: message.Delivered, At: at(5 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM1"); got.Status != message.Delivered {
			t.Fatalf("status %s once every part was delivered", got.Status)
		}
		statusesOf(t, s, 2)
	}},
	{"MultipartUndeliveredWhenOnePartIs", func(t *testing.T, s Store) {
		sendOne(t, s, false)
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "zain", PartKeys: [][]string{{"1"}, {"2"}}, At: at(time.Second)}))
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"2"}, Status: message.Undelivered, ErrorCode: 5,
			ErrorMessage: "the operator reported UNDELIV", At: at(2 * time.Second)}))
		got, _ := s.Message(ctx, "AC1", "SM1")
		if got.Status != message.Undelivered || got.ErrorCode != 5 || got.ErrorMessage != "the operator reported UNDELIV" {
			t.Errorf("after an undelivered part: %+v", got)
		}
	}},
	{"ReceiptBeforeItsPartIsKnown", func(t *testing.T, s Store) {
		sendOne(t, s, true)
		// The receipt overtakes the submit_sm_resp: kept, then applied.
		check(t, "ApplyReceipt of an unknown id", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"255", "ff"}, Status: message.Delivered, At: at(time.Second)}))
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "zain", ProviderID: "ff",
			PartKeys: [][]string{{"ff", "255"}}, At: at(2 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM1"); got.Status != message.Delivered {
			t.Fatalf("status %s, want delivered by the receipt that came first", got.Status)
		}
		if st := statusesOf(t, s, 2); fmt.Sprint(st) != "[SM1:sent SM1:delivered]" {
			t.Errorf("callbacks %v", st)
		}
		// The kept receipt was used up: a new message with the same id is not delivered by it.
		m2 := newMessage("AC1", "SM2", at(3*time.Second))
		mustSend(t, s, m2)
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM2", Status: message.Sent, Connector: "zain", PartKeys: [][]string{{"ff"}}, At: at(4 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM2"); got.Status != message.Sent {
			t.Errorf("a kept receipt was applied twice: SM2 is %s", got.Status)
		}
	}},
	{"ReceiptTakesItsEarliestKey", func(t *testing.T, s Store) {
		// A receipt's id in the exact form comes first among its keys
		// (dlr.IDKeys): where another part is stored under a converted
		// form, the exact one wins; a later key counts where the first
		// names nothing.
		sendOne(t, s, false)
		mustSend(t, s, newMessage("AC1", "SM2", at(0)))
		mustSend(t, s, newMessage("AC1", "SM3", at(0)))
		for sid, key := range map[string]string{"SM1": "291", "SM2": "123", "SM3": "77"} {
			check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: sid, Status: message.Sent, Connector: "zain",
				PartKeys: [][]string{{key}}, At: at(time.Second)}))
		}
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"123", "291"}, Status: message.Delivered, At: at(2 * time.Second)}))
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"4d", "77"}, Status: message.Undelivered, At: at(2 * time.Second)}))
		for sid, want := range map[string]message.Status{"SM1": message.Sent, "SM2": message.Delivered, "SM3": message.Undelivered} {
			if got, _ := s.Message(ctx, "AC1", sid); got.Status != want {
				t.Errorf("%s is %s, want %s", sid, got.Status, want)
			}
		}
	}},
	{"OutcomeOfAMessageOutOfTheOutboxChangesNothing", func(t *testing.T, s Store) {
		// A second outcome for a message already out of the outbox (its
		// lease ran out and another node sent it, say) is refused, and
		// neither keeps its part nor takes the receipt waiting for it.
		sendOne(t, s, false)
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "zain",
			PartKeys: [][]string{{"k1"}}, At: at(time.Second)}))
		check(t, "ApplyReceipt of an unknown id", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"k9"}, Status: message.Delivered, At: at(2 * time.Second)}))
		err := s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "zain", PartKeys: [][]string{{"k9"}}, At: at(3 * time.Second)})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the second outcome: %v, want ErrNotFound", err)
		}
		if got, _ := s.Message(ctx, "AC1", "SM1"); got.Status != message.Sent {
			t.Errorf("SM1 is %s, want sent: the waiting receipt was not its", got.Status)
		}
		mustSend(t, s, newMessage("AC1", "SM2", at(4*time.Second)))
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM2", Status: message.Sent, Connector: "zain",
			PartKeys: [][]string{{"k9"}}, At: at(5 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM2"); got.Status != message.Delivered {
			t.Errorf("SM2 is %s, want delivered by the receipt that waited for its id", got.Status)
		}
	}},
	{"ReceiptsEarliestKeyNamesAPartOfMany", func(t *testing.T, s Store) {
		// The receipt's first key names a part of a long message, a later
		// one a message of one part: the part of the long message takes
		// it, and the other message stays as it was.
		sendOne(t, s, false)
		mustSend(t, s, newMessage("AC1", "SM2", at(0)))
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "zain",
			PartKeys: [][]string{{"a1"}, {"a2"}}, At: at(time.Second)}))
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM2", Status: message.Sent, Connector: "zain",
			PartKeys: [][]string{{"b"}}, At: at(time.Second)}))
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"a1", "b"}, Status: message.Delivered, At: at(2 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM2"); got.Status != message.Sent {
			t.Errorf("SM2 is %s, want sent: the receipt was SM1's part", got.Status)
		}
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"a2"}, Status: message.Delivered, At: at(3 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM1"); got.Status != message.Delivered {
			t.Errorf("SM1 is %s, want delivered once both its parts are", got.Status)
		}
	}},
	{"OrphanReceiptsForgottenAfterTheirTime", func(t *testing.T, s Store) {
		// Two receipts for parts not known yet, one older than the
		// other; forgetting those received before a time drops only the
		// older, and the newer still delivers its message once known.
		sendOne(t, s, false)
		mustSend(t, s, newMessage("AC1", "SM2", at(0)))
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"old"}, Status: message.Delivered, At: at(time.Second)}))
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{Connector: "zain", Keys: []string{"new"}, Status: message.Delivered, At: at(time.Hour)}))
		n, err := s.ForgetOrphanReceipts(ctx, at(time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("ForgetOrphanReceipts = %d, %v; want the one received before", n, err)
		}
		for sid, key := range map[string]string{"SM1": "old", "SM2": "new"} {
			check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: sid, Status: message.Sent, Connector: "zain",
				PartKeys: [][]string{{key}}, At: at(2 * time.Hour)}))
		}
		for sid, want := range map[string]message.Status{"SM1": message.Sent, "SM2": message.Delivered} {
			if got, _ := s.Message(ctx, "AC1", sid); got.Status != want {
				t.Errorf("%s is %s, want %s", sid, got.Status, want)
			}
		}
	}},
	{"ReceiptBySID", func(t *testing.T, s Store) {
		sendOne(t, s, false)
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: "SM1", Status: message.Sent, Connector: "x", At: at(time.Second)}))
		check(t, "ApplyReceipt", applyReceipt(s, message.Receipt{MessageSID: "SM1", Status: message.Delivered, At: at(2 * time.Second)}))
		if got, _ := s.Message(ctx, "AC1", "SM1"); got.Status != message.Delivered {
			t.Errorf("status %s, want delivered", got.Status)
		}
		err := applyReceipt(s, message.Receipt{MessageSID: "SM9", Status: message.Delivered, At: at(2 * time.Second)})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a receipt for an unknown SID = %v, want ErrNotFound", err)
		}
	}},
	{"ReceiptSaysWhetherACallbackWasStored", func(t *testing.T, s Store) {
		sendOne(t, s, true)
		m2 := newMessage("AC1", "SM2", at(0)) // no status callback
		mustSend(t, s, m2)
		for _, sid := range []string{"SM1", "SM2"} {
			check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: sid, Status: message.Sent, Connector: "zain", PartKeys: [][]string{{sid + "-id"}}, At: at(time.Second)}))
		}
		for _, tt := range []struct {
			key  string
			want bool
		}{{"SM1-id", true}, {"SM1-id", false}, {"SM2-id", false}, {"unknown", false}} {
			got, err := s.ApplyReceipt(ctx, message.Receipt{Connector: "zain", Keys: []string{tt.key}, Status: message.Delivered, At: at(2 * time.Second)})
			if err != nil || got != tt.want {
				t.Errorf("ApplyReceipt(%s) = %v, %v; want %v (a callback only for a listened message whose status moved)", tt.key, got, err, tt.want)
			}
		}
	}},
}
