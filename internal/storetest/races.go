package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

var raceTests = []testCase{
	{"SendsToOneNumber", func(t *testing.T, s Store) { SendRace(t, s) }},
	{"OutcomesAndReceiptsAtOnce", func(t *testing.T, s Store) { ReceiptRace(t, s, s) }},
	{"GuessesAtOnce", func(t *testing.T, s Store) { CheckRace(t, s) }},
}

// CheckRace sends 60 wrong codes for one verification at once, each through
// one of nodes in turn, under a limit of 5 checks: exactly 5 are counted
// and judged, each seeing another count, and the rest are answered with the
// verification at its limit (the judge here never locks it, so the limit
// alone holds them back); then a verification that its first right code
// approves takes 40 codes at once, and exactly one is counted. A backend
// with several nodes calls it from its own test; Run calls it with one
// store.
func CheckRace(t *testing.T, nodes ...Store) {
	s := nodes[0]
	svc := mustSetup(t, s)
	const limit = 5
	for round, want := range []verification.Status{verification.Pending, verification.Approved} {
		v := newVerification("AC1", svc.SID, fmt.Sprintf("VC%d", round), fmt.Sprintf("+4477009%05d", 100+round), at(0))
		mustStartVerification(t, s, v)
		wantCounted := limit
		if want == verification.Approved {
			wantCounted = 1
		}
		var judged, counted sync.Map
		var wg sync.WaitGroup
		n := 60 - 20*round
		for i := range n {
			wg.Go(func() {
				got, c, err := nodes[i%len(nodes)].CountCheck(ctx, v.Key(), limit, at(time.Second),
					func(v verification.Verification) (verification.Status, []callback.Callback) {
						judged.Store(i, v.CheckAttempts)
						return want, nil
					})
				if err != nil {
					t.Errorf("round %d: check %d: %v", round, i, err)
					return
				}
				if c {
					counted.Store(i, got.CheckAttempts)
				} else if got.Status == verification.Pending && got.CheckAttempts != limit {
					t.Errorf("round %d: check %d not counted, yet the verification it saw is pending under the limit: %+v", round, i, got)
				}
			})
		}
		wg.Wait()
		var nJudged, nCounted int
		attempts := map[int]bool{}
		judged.Range(func(_, a any) bool { nJudged++; attempts[a.(int)] = true; return true })
		counted.Range(func(_, _ any) bool { nCounted++; return true })
		stored, err := latest(t, s, "AC1", svc.SID, v.To)
		check(t, "the verification after the checks", err)
		if nJudged != wantCounted || nCounted != wantCounted || len(attempts) != wantCounted || stored.CheckAttempts != wantCounted || stored.Status != want {
			t.Errorf("round %d: %d checks at once under a limit of %d: judged %d (attempts seen %v), counted %d, stored %d attempts, status %s; want %d, %d, %d, %s",
				round, n, limit, nJudged, attempts, nCounted, stored.CheckAttempts, stored.Status, wantCounted, wantCounted, wantCounted, want)
		}
	}
}

// UnreadableCheck starts a verification, has corrupt make its stored codes
// unreadable (and restore them after), and checks it 3 times: each check
// fails, and none is counted, for a check that failed must not use up the
// verification's guesses. A backend calls it from its own test with
// corrupt written in its SQL.
func UnreadableCheck(t *testing.T, s Store, corrupt func(verificationSID string) (restore func())) {
	svc := mustSetup(t, s)
	v := newVerification("AC1", svc.SID, "VEunreadable", to, at(0))
	mustStartVerification(t, s, v)
	restore := corrupt(v.SID)
	var calls atomic.Int32
	for i := range 3 {
		_, counted, err := s.CountCheck(ctx, v.Key(), 5, at(time.Second), judge(&calls, verification.Pending))
		if err == nil || counted {
			t.Fatalf("check %d of a verification whose codes cannot be read: counted %v, %v; want an error", i, counted, err)
		}
	}
	restore()
	got, err := latest(t, s, "AC1", svc.SID, to)
	check(t, "the verification after the failed checks", err)
	if got.CheckAttempts != 0 || calls.Load() != 0 {
		t.Errorf("after 3 failed checks: %d checks counted, judged %d times; want none", got.CheckAttempts, calls.Load())
	}
}

// SendRace sends bursts to one number at once, each send through one of
// nodes in turn (stores that share one database; one store is one node):
// new verifications through a service each, messages, and resends of one
// verification (which race for its row: one wins, the others conflict),
// under a limit of 5 per number and one per account that never refuses (so
// each send counts two keys, the number's new in the burst). Every send is
// stored or refused (a *ratelimit.Error, or store.ErrConflict for a
// resend that lost), never failed; exactly 5 are stored, each whole, and
// a refused one left nothing. A backend with several nodes calls it from
// its own test; Run calls it with one store.
func SendRace(t *testing.T, nodes ...Store) {
	s := nodes[0]
	MustInsertAccount(t, s, newAccount("AC1"))
	const services, messages, resends = 8, 6, 6
	for i := range services + 1 {
		_, err := s.CreateService(ctx, newService("AC1", fmt.Sprintf("SV%d", i), fmt.Sprintf("svc%d", i)))
		check(t, "CreateService", err)
	}
	account := ratelimit.Limit{Key: "a:AC1", Max: 1 << 20, Window: time.Hour}
	for round := range 10 {
		num := fmt.Sprintf("+4477009%05d", round)
		perNumber := ratelimit.Limit{Key: "n:AC1:" + num, Max: 5, Window: time.Hour}
		start := at(time.Duration(round) * time.Minute)
		// The verification the resends race for (its send not counted).
		shared := newVerification("AC1", fmt.Sprintf("SV%d", services), fmt.Sprintf("VR%02d", round), num, start)
		first := newMessage("AC1", "SM"+shared.SID, start)
		first.To, first.VerificationSID = num, shared.SID
		check(t, "the shared verification", s.InsertSend(ctx, first, newOutbound(first), &verification.Change{V: shared, New: true}))

		type result struct {
			kind string
			sid  string // the message's
			vsid string // a new verification's
			err  error
		}
		results := make([]result, services+messages+resends)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				node := nodes[i%len(nodes)]
				now := start.Add(time.Second)
				m := newMessage("AC1", fmt.Sprintf("SMR%02d%02d", round, i), now)
				m.To = num
				r := result{sid: m.SID}
				var c *verification.Change
				switch {
				case i < services:
					v := newVerification("AC1", fmt.Sprintf("SV%d", i), fmt.Sprintf("VN%02d%02d", round, i), num, now)
					c, r.kind, r.vsid = &verification.Change{V: v, New: true}, "new verification", v.SID
				case i < services+messages:
					r.kind = "message"
				default:
					c, r.kind = &verification.Change{V: resend(shared, time.Second)}, "resend"
				}
				if c != nil {
					m.VerificationSID = c.V.SID
				}
				r.err = node.InsertSend(ctx, m, newOutbound(m), c, perNumber, account)
				results[i] = r
			})
		}
		wg.Wait()

		stored := 0
		for _, r := range results {
			var le *ratelimit.Error
			switch {
			case r.err == nil:
				stored++
			case errors.As(r.err, &le) && le.Limit.Key == perNumber.Key:
			case errors.Is(r.err, store.ErrConflict) && r.kind == "resend":
			default:
				t.Errorf("round %d: a %s: %v, want it stored or refused", round, r.kind, r.err)
				continue
			}
			_, err := s.Message(ctx, "AC1", r.sid)
			if r.err == nil {
				check(t, fmt.Sprintf("round %d: a stored %s's message", round, r.kind), err)
			} else {
				wantNotFound(t, fmt.Sprintf("round %d: a refused %s's message", round, r.kind), err)
			}
			if r.vsid != "" {
				_, err := s.VerificationBySID(ctx, "AC1", r.vsid)
				if r.err == nil {
					check(t, fmt.Sprintf("round %d: a stored new verification", round), err)
				} else {
					wantNotFound(t, fmt.Sprintf("round %d: a refused new verification", round), err)
				}
			}
		}
		if stored != 5 {
			t.Errorf("round %d: %d of %d sends at once to one number stored under a limit of 5", round, stored, len(results))
		}
		// The number's count is full: the next send is refused.
		m := newMessage("AC1", fmt.Sprintf("SMX%02d", round), start.Add(2*time.Second))
		m.To = num
		var le *ratelimit.Error
		if err := s.InsertSend(ctx, m, newOutbound(m), nil, perNumber, account); !errors.As(err, &le) || le.Limit.Key != perNumber.Key {
			t.Errorf("round %d: a send after the burst: %v, want the number's limit", round, err)
		}
	}
}

// ReceiptRace has one node record the outcomes of one-part messages while
// another applies their receipts at the same moment, as when an SMSC's
// receipt reaches another node's bind before the sending node has stored
// its submit_sm_resp. Whichever comes first, every message ends delivered,
// no receipt is left waiting, and a message with a status callback has
// exactly two (sent, delivered).
func ReceiptRace(t *testing.T, a, b Store) {
	MustInsertAccount(t, a, newAccount("AC1"))
	const n = 200
	for i := range n {
		m := newMessage("AC1", fmt.Sprintf("SM%03d", i), at(0))
		if i%2 == 0 {
			m.StatusCallback = "https://example.com/status"
		}
		mustSend(t, a, m)
	}
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		sid, key := fmt.Sprintf("SM%03d", i), fmt.Sprintf("id-%d", i)
		wg.Go(func() {
			errs[2*i] = a.RecordOutcome(ctx, message.Outcome{SID: sid, Status: message.Sent, Connector: "zain",
				ProviderID: key, PartKeys: [][]string{{key}}, At: at(time.Second)})
		})
		wg.Go(func() {
			_, errs[2*i+1] = b.ApplyReceipt(ctx, message.Receipt{Connector: "zain", Keys: []string{key}, Status: message.Delivered, At: at(time.Second)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	for i := range n {
		sid := fmt.Sprintf("SM%03d", i)
		if got, err := a.Message(ctx, "AC1", sid); err != nil || got.Status != message.Delivered {
			t.Errorf("%s: %s, %v; want delivered", sid, got.Status, err)
		}
	}
	if left, err := a.ForgetOrphanReceipts(ctx, at(24*time.Hour)); err != nil || left != 0 {
		t.Errorf("receipts left waiting: %d, %v; want none", left, err)
	}
	per := map[string][]string{}
	for _, c := range claimAllCallbacks(t, a, at(time.Hour)) {
		per[c.Subject] = append(per[c.Subject], statusParam(c.Body))
	}
	for i := range n {
		sid := fmt.Sprintf("SM%03d", i)
		want := "[]"
		if i%2 == 0 {
			want = "[sent delivered]"
		}
		if got := fmt.Sprint(per[sid]); got != want {
			t.Errorf("%s: callbacks %s, want %s", sid, got, want)
		}
	}
}
