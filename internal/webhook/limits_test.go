package webhook

import (
	"fmt"
	"testing"
	"time"
)

func TestLimitsCaps(t *testing.T) {
	l := newLimits(100, 2, 3, 5, time.Second, time.Minute)
	now := time.Now()
	const share = 3 // PerAccount: 100 workers leave room for everyone
	for i, tc := range []struct {
		host, account string
		want          refusal
	}{
		{"a:80", "AC1", started},
		{"a:80", "AC1", started},
		{"a:80", "AC1", routeFull}, // AC1 at its cap at host a
		{"a:80", "AC2", started},   // AC1's POSTs to a do not count against AC2's
		{"b:80", "AC1", started},
		{"c:80", "AC1", accountFull}, // AC1 at its cap
		{"c:80", "AC2", started},
	} {
		if got, _ := l.start(now, route{tc.account, tc.host}, share); got != tc.want {
			t.Fatalf("start %d (%s for %s) = %v, want %v", i, tc.host, tc.account, got, tc.want)
		}
	}
	l.finish(now, route{"AC1", "a:80"}, succeeded)
	if got, _ := l.start(now, route{"AC1", "a:80"}, share); got != started {
		t.Fatalf("a finished POST did not free its route's place: %v", got)
	}
}

// An account's share of the workers shrinks with the accounts that want
// them (in flight, or held for a worker), keeping one share for an account
// that arrives: min(PerAccount, max(1, Concurrency/(active+1))).
func TestLimitsShare(t *testing.T) {
	for _, tc := range []struct {
		inFlight, waiting int // accounts; the first waiting one also has a POST in flight
		want              int
	}{
		{0, 0, 8}, // PerAccount
		{1, 0, 8},
		{0, 3, 8},  // 32/4
		{2, 3, 6},  // 4 accounts: 32/5
		{0, 5, 5},  // 32/6
		{4, 4, 4},  // 7 accounts: 32/8
		{10, 6, 2}, // 15 accounts: 32/16
		{0, 31, 1},
		{50, 50, 1}, // never none
	} {
		t.Run(fmt.Sprintf("%d in flight, %d waiting", tc.inFlight, tc.waiting), func(t *testing.T) {
			l := newLimits(32, 4, 8, 5, time.Second, time.Minute)
			now := time.Now()
			for i := range tc.inFlight {
				if got, _ := l.start(now, route{fmt.Sprintf("AC%d", i), "h:443"}, 1); got != started {
					t.Fatalf("start: %v", got)
				}
			}
			waiting := map[string]bool{}
			for i := range tc.waiting {
				waiting[fmt.Sprintf("AC%d", max(tc.inFlight-1, 0)+i)] = true
			}
			if got := l.share(waiting); got != tc.want {
				t.Errorf("share = %d, want %d", got, tc.want)
			}
		})
	}
}

// Accounts whose receivers never answer arrive one after another, each
// taking every worker it may: none holds more than its share, and each
// finds a worker free. At the defaults it takes ten of them to take every
// worker (without the share kept free beyond an account's first POST, five
// would: 8, 8, 8, 6 and 2).
func TestLimitsShareKeepsRoomForArrivals(t *testing.T) {
	const concurrency = 32
	l := newLimits(concurrency, 4, 8, 5, time.Second, time.Minute)
	now := time.Now()
	waiting := map[string]bool{}
	var took []int
	total := 0
	for k := range 10 {
		account := fmt.Sprintf("AC%d", k)
		waiting[account] = true
		share := l.share(waiting)
		n := 0
		for total < concurrency { // the Sender's workers
			got, _ := l.start(now, route{account, fmt.Sprintf("h%d:443", n)}, share) // a host each: only the account's share binds
			if got != started {
				if got != accountFull {
					t.Fatalf("%s: refused %v", account, got)
				}
				break
			}
			n++
			total++
		}
		took = append(took, n)
		if n == 0 {
			t.Fatalf("the account that arrived %d found no worker free (taken: %v)", k+1, took)
		}
		if n > share {
			t.Fatalf("%s took %d, more than its share %d", account, n, share)
		}
		if k < 9 && total >= concurrency {
			t.Fatalf("%d accounts took every worker: %v", k+1, took)
		}
	}
	t.Logf("POSTs in flight of each account, in the order they arrived: %v", took)
}

func TestLimitsCircuit(t *testing.T) {
	l := newLimits(32, 4, 8, 3, time.Second, 3*time.Second)
	now := time.Now()
	r := route{"AC1", "h:443"}
	post := func(res result) (opened time.Duration) {
		t.Helper()
		got, openUntil := l.start(now, r, 8)
		if got != started {
			t.Fatalf("at %v: a POST was refused: %v (open until %v)", now, got, openUntil)
		}
		d, _ := l.finish(now, r, res)
		return d
	}
	refused := func() time.Time {
		t.Helper()
		got, openUntil := l.start(now, r, 8)
		if got == started {
			t.Fatalf("at %v: a POST was let through an open circuit", now)
		}
		return openUntil
	}

	post(failed)
	post(failed)
	post(notPosted) // says nothing of the host
	if d := post(failed); d != time.Second {
		t.Fatalf("the third failure in a row opened the circuit for %v, want 1s", d)
	}
	if until := refused(); !until.Equal(now.Add(time.Second)) {
		t.Fatalf("open until %v, want %v", until, now.Add(time.Second))
	}
	if until := l.openUntil(now, r); !until.Equal(now.Add(time.Second)) {
		t.Fatalf("openUntil = %v, want %v", until, now.Add(time.Second))
	}
	if n := l.openCircuits(now); n != 1 {
		t.Fatalf("%d circuits open, want 1", n)
	}
	other := route{"AC1", "other:443"}
	if got, _ := l.start(now, other, 8); got != started {
		t.Fatalf("another host's POST was refused: %v", got)
	}
	l.finish(now, other, succeeded)

	// Half open: one trial at a time; failing, it opens for twice as long,
	// up to the maximum.
	for _, want := range []time.Duration{2 * time.Second, 3 * time.Second, 3 * time.Second} {
		now = refused()
		if got, _ := l.start(now, r, 8); got != started {
			t.Fatalf("the half-open trial was refused: %v", got)
		}
		if until := refused(); !until.IsZero() {
			t.Fatalf("a second POST during the trial: refused until %v, want refused until the trial ends", until)
		}
		if d, _ := l.finish(now, r, failed); d != want {
			t.Fatalf("the failed trial opened the circuit for %v, want %v", d, want)
		}
	}
	now = refused()
	post(succeeded)
	if n := l.openCircuits(now); n != 0 {
		t.Fatalf("%d circuits open after a success, want 0", n)
	}
	post(failed)
	post(succeeded) // closed: failures are counted from zero again
	post(failed)
	if d := post(failed); d != 0 {
		t.Fatalf("two failures after a success opened the circuit for %v", d)
	}
}

// A circuit is one account's at one host: account A's failures open it for
// A's callbacks only; account B's POSTs to the same host go on, during A's
// half-open trial too, and B's successes do not close A's circuit.
func TestLimitsCircuitPerAccount(t *testing.T) {
	l := newLimits(32, 4, 8, 3, time.Second, time.Minute)
	now := time.Now()
	a, b := route{"ACa", "relay.example.com:443"}, route{"ACb", "relay.example.com:443"}
	for range 3 {
		if got, _ := l.start(now, a, 8); got != started {
			t.Fatalf("A's POST refused before its circuit opened: %v", got)
		}
		l.finish(now, a, failed)
	}
	if got, until := l.start(now, a, 8); got != circuitOpen || !until.Equal(now.Add(time.Second)) {
		t.Fatalf("A's POST after 3 failures: %v until %v, want its circuit open until +1s", got, until)
	}
	for range 5 {
		if got, _ := l.start(now, b, 8); got != started {
			t.Fatalf("B's POST to the host where A's circuit is open: %v, want started", got)
		}
		if d, _ := l.finish(now, b, succeeded); d != 0 {
			t.Fatalf("B's success opened a circuit for %v", d)
		}
	}
	if got, until := l.start(now, a, 8); got != circuitOpen || !until.Equal(now.Add(time.Second)) {
		t.Fatalf("A's POST after B's successes at its host: %v until %v, want A's circuit still open until +1s", got, until)
	}

	// A's half-open trial is A's alone: B's POSTs still go, and B's
	// success meanwhile neither closes A's circuit nor ends A's trial.
	now = now.Add(time.Second)
	if got, _ := l.start(now, a, 8); got != started {
		t.Fatalf("A's half-open trial refused: %v", got)
	}
	if got, _ := l.start(now, b, 8); got != started {
		t.Fatalf("B's POST during A's trial: %v, want started", got)
	}
	l.finish(now, b, succeeded)
	if got, _ := l.start(now, a, 8); got != routeFull {
		t.Fatalf("A's second POST during its trial: %v, want it to wait for the trial", got)
	}
	if d, _ := l.finish(now, a, failed); d != 2*time.Second {
		t.Fatalf("A's failed trial opened its circuit for %v, want 2s", d)
	}
	// B's failures at the host count for B only.
	for range 2 {
		l.start(now, b, 8)
		l.finish(now, b, failed)
	}
	if got, _ := l.start(now, b, 8); got != started {
		t.Fatalf("B's POST after 2 failures of its own and A's: %v, want started (B's circuit opens at 3)", got)
	}
}
