package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// memStore is a Store in memory, with the claiming rules of the real ones:
// the oldest pending callback of each subject, when due, leased.
type memStore struct {
	mu       sync.Mutex
	pending  []callback.Callback // by SID
	attempts []callback.Attempt
	released int // callbacks given back without an attempt
}

var _ Store = (*memStore)(nil)

func (m *memStore) add(c callback.Callback) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = append(m.pending, c)
	slices.SortFunc(m.pending, func(a, b callback.Callback) int { return strings.Compare(a.SID, b.SID) })
}

func (m *memStore) ClaimCallbacks(_ context.Context, now, leaseUntil time.Time, limit int) ([]callback.Callback, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []int
	seen := map[string]bool{}
	for i, c := range m.pending {
		if !seen[c.Subject] && !c.NextAttemptAt.After(now) {
			due = append(due, i)
		}
		seen[c.Subject] = true
	}
	slices.SortStableFunc(due, func(a, b int) int { return m.pending[a].NextAttemptAt.Compare(m.pending[b].NextAttemptAt) })
	var out []callback.Callback
	for _, i := range due[:min(limit, len(due))] {
		m.pending[i].NextAttemptAt = leaseUntil
		out = append(out, m.pending[i])
	}
	return out, nil
}

func (m *memStore) FinishCallback(_ context.Context, c callback.Callback, a callback.Attempt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts = append(m.attempts, a)
	m.pending = slices.DeleteFunc(m.pending, func(p callback.Callback) bool { return p.SID == c.SID })
	return nil
}

func (m *memStore) RetryCallback(_ context.Context, c callback.Callback, a callback.Attempt, next time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts = append(m.attempts, a)
	for i := range m.pending {
		if m.pending[i].SID == c.SID {
			m.pending[i].Attempts, m.pending[i].NextAttemptAt = a.Attempt, next
		}
	}
	return nil
}

func (m *memStore) ReleaseCallbacks(_ context.Context, rs []callback.Release) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		for i := range m.pending {
			if m.pending[i].SID == r.SID && m.pending[i].NextAttemptAt.Equal(r.LeaseUntil) {
				m.pending[i].NextAttemptAt = r.Due
				m.released++
			}
		}
	}
	return nil
}

func (m *memStore) CallbackBacklog(context.Context) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest time.Time
	for _, c := range m.pending {
		if oldest.IsZero() || c.CreatedAt.Before(oldest) {
			oldest = c.CreatedAt
		}
	}
	return len(m.pending), oldest, nil
}

func (m *memStore) AccountTokenSealed(context.Context, string) ([]byte, error) {
	return []byte("sealed"), nil
}

func (m *memStore) counts() (pending, attempts int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending), len(m.attempts)
}

type plainOpener struct{}

func (plainOpener) Open(string, []byte) ([]byte, error) { return []byte("token"), nil }

// hostServer is a receiver that counts its requests (in all and by the
// URL's first path segment), the most it had in flight at once, and blocks
// each until gate is closed when gate is set. It answers status, or, for a
// first path segment in failFor, 500.
type hostServer struct {
	*httptest.Server
	gate               chan struct{}
	status             atomic.Int64
	requests, inFlight atomic.Int64
	mu                 sync.Mutex
	most               int64
	byPath             map[string]int
	failFor            map[string]bool
	once               sync.Once
}

func newHostServer(t *testing.T, blocked bool) *hostServer {
	h := &hostServer{byPath: map[string]int{}, failFor: map[string]bool{}}
	h.status.Store(200)
	if blocked {
		h.gate = make(chan struct{})
	}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		n := h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		h.mu.Lock()
		h.most = max(h.most, n)
		h.byPath[first]++
		fail := h.failFor[first]
		h.mu.Unlock()
		if h.gate != nil {
			select {
			case <-h.gate:
			case <-r.Context().Done():
			}
		}
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(int(h.status.Load()))
	}))
	t.Cleanup(h.Close)
	if blocked {
		t.Cleanup(h.release) // runs first
	}
	return h
}

// release unblocks the requests, those waiting and those to come.
func (h *hostServer) release() { h.once.Do(func() { close(h.gate) }) }

// requestsFor counts the requests whose URL path began with /first/.
func (h *hostServer) requestsFor(first string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byPath[first]
}

func (h *hostServer) mostInFlight() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.most
}

func newCallbacks(store *memStore, n int, account, url string) {
	for i := range n {
		store.add(callback.Callback{
			SID: fmt.Sprintf("CB%s%03d", url, i), Subject: fmt.Sprintf("SM%s%03d", url, i), AccountSID: account, URL: url + "/status?key=s3cret",
			Body: "MessageStatus=sent", NextAttemptAt: time.Now(), CreatedAt: time.Now(),
		})
	}
}

func startSender(t *testing.T, cfg SenderConfig) *Sender {
	cfg.Tokens, cfg.Policy = plainOpener{}, Policy{AllowPrivate: true}
	s := NewSender(cfg)
	s.Start(t.Context())
	t.Cleanup(s.Stop)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Callbacks to a host at its cap, or of an account at its cap, wait without
// a worker: the other hosts' callbacks go first.
func TestSenderCaps(t *testing.T) {
	slowA, slowB, fast := newHostServer(t, true), newHostServer(t, true), newHostServer(t, false)
	store := &memStore{}
	newCallbacks(store, 20, "AC1", slowA.URL)
	newCallbacks(store, 20, "AC1", slowB.URL)
	newCallbacks(store, 10, "AC2", fast.URL)
	startSender(t, SenderConfig{Store: store, Concurrency: 6, PerHost: 2, PerAccount: 3})
	t.Cleanup(func() { slowA.release(); slowB.release() }) // before Stop, which waits for POSTs in flight

	waitFor(t, "the fast host's 10 callbacks", func() bool { return fast.requests.Load() == 10 })
	time.Sleep(50 * time.Millisecond)
	if a, b := slowA.mostInFlight(), slowB.mostInFlight(); a > 2 || b > 2 || a+b != 3 {
		t.Errorf("in flight at once: %d to one slow host, %d to the other; want at most 2 a host and 3 for their account", a, b)
	}
	if _, attempts := store.counts(); attempts != 10 {
		t.Errorf("%d attempts recorded, want the fast host's 10 (waiting callbacks are not attempts)", attempts)
	}
}

// After BreakAfter failures in a row a host gets no POSTs, and its waiting
// callbacks no attempts, until its cool-down ends; then one POST is let
// through, and its success closes the circuit.
func TestSenderCircuitBreaker(t *testing.T) {
	broken, fine := newHostServer(t, false), newHostServer(t, false)
	broken.status.Store(500)
	store := &memStore{}
	newCallbacks(store, 10, "AC1", broken.URL)
	newCallbacks(store, 5, "AC2", fine.URL)
	startSender(t, SenderConfig{Store: store, PerHost: 1, BreakAfter: 3, CoolDown: 300 * time.Millisecond,
		FirstRetry: 10 * time.Millisecond, Timeout: time.Second, Lease: 3 * time.Second})

	waitFor(t, "3 POSTs to the broken host", func() bool { return broken.requests.Load() >= 3 })
	waitFor(t, "the other host's callbacks", func() bool { return fine.requests.Load() == 5 })
	time.Sleep(100 * time.Millisecond)
	if n := broken.requests.Load(); n != 3 {
		t.Fatalf("%d POSTs to the broken host, want 3: its circuit should be open", n)
	}
	if _, attempts := store.counts(); attempts != 3+5 {
		t.Fatalf("%d attempts recorded, want 8", attempts)
	}

	broken.status.Store(200)
	waitFor(t, "every callback delivered", func() bool { p, _ := store.counts(); return p == 0 })
	if n := broken.requests.Load(); n != 3+10 {
		t.Errorf("%d POSTs to the mended host, want 13", n)
	}
	for _, a := range store.attempts {
		if strings.Contains(a.URL, "s3cret") || strings.Contains(a.Error, "s3cret") {
			t.Errorf("attempt %+v holds the URL's query", a)
		}
	}
}

func TestHostKey(t *testing.T) {
	for raw, want := range map[string]string{
		"https://Hooks.Example.com/a?x=1":  "hooks.example.com:443",
		"http://hooks.example.com/a":       "hooks.example.com:80",
		"https://hooks.example.com:8443/a": "hooks.example.com:8443",
		"http://127.0.0.1:9000/a":          "127.0.0.1:9000",
		"http://[::1]/a":                   "[::1]:80",
	} {
		if got := hostKey(raw); got != want {
			t.Errorf("hostKey(%q) = %q, want %q", raw, got, want)
		}
	}
}

// Callbacks the Sender holds but cannot POST go back to the Store without
// an attempt: when their host's circuit stays open past what their lease
// allows, due when it half opens (not when the lease ends), and when the
// Sender stops, due at once (for another node, or the next start).
func TestSenderGivesBackWhatItHolds(t *testing.T) {
	t.Run("circuit open", func(t *testing.T) {
		broken := newHostServer(t, false)
		broken.status.Store(500)
		store := &memStore{}
		newCallbacks(store, 5, "AC1", broken.URL)
		start := time.Now()
		// A POST may start up to 2 s into its 4 s lease; the circuit opens
		// for 3 s after the first failure, so what is held cannot wait.
		startSender(t, SenderConfig{Store: store, PerHost: 1, BreakAfter: 1, CoolDown: 3 * time.Second,
			FirstRetry: 10 * time.Millisecond, Timeout: time.Second, Lease: 4 * time.Second})
		waitFor(t, "the held callbacks given back", func() bool {
			store.mu.Lock()
			defer store.mu.Unlock()
			return store.released >= 4
		})
		store.mu.Lock()
		defer store.mu.Unlock()
		if len(store.attempts) != 1 {
			t.Errorf("%d attempts, want 1: callbacks given back are not attempts", len(store.attempts))
		}
		for _, c := range store.pending {
			if c.Attempts == 0 && !c.NextAttemptAt.Before(start.Add(4*time.Second)) {
				t.Errorf("%s is due at +%s, at its lease's end; want when the circuit half opens (+3 s)", c.SID, c.NextAttemptAt.Sub(start))
			}
		}
	})
	t.Run("stopping", func(t *testing.T) {
		slow := newHostServer(t, true)
		store := &memStore{}
		newCallbacks(store, 10, "AC1", slow.URL)
		s := startSender(t, SenderConfig{Store: store, PerHost: 1, Timeout: 5 * time.Second, Lease: time.Hour})
		waitFor(t, "one POST in flight", func() bool { return slow.requests.Load() == 1 })
		time.Sleep(50 * time.Millisecond)
		stopped := make(chan struct{})
		go func() { s.Stop(); close(stopped) }()
		waitFor(t, "the held callbacks given back", func() bool {
			store.mu.Lock()
			defer store.mu.Unlock()
			return store.released == 9
		})
		slow.release() // the POST in flight ends; Stop waits for it
		<-stopped
		store.mu.Lock()
		defer store.mu.Unlock()
		for _, c := range store.pending {
			if c.Attempts == 0 && c.NextAttemptAt.After(time.Now()) {
				t.Errorf("%s is due at %s, after the stop: it waits out its hour's lease", c.SID, c.NextAttemptAt)
			}
		}
	})
}

// The sender's metrics move with its POSTs: delivered and failed attempts,
// a circuit opening (and open), and the backlog read from the store.
func TestSenderMetrics(t *testing.T) {
	broken, fine := newHostServer(t, false), newHostServer(t, false)
	broken.status.Store(500)
	store := &memStore{}
	newCallbacks(store, 3, "AC1", broken.URL)
	newCallbacks(store, 4, "AC2", fine.URL)
	s := NewSender(SenderConfig{Store: store, Tokens: plainOpener{}, Policy: Policy{AllowPrivate: true}, PerHost: 1, BreakAfter: 2,
		CoolDown: time.Hour, FirstRetry: 10 * time.Millisecond, Timeout: time.Second, Lease: 3 * time.Second})
	reg := prometheus.NewPedanticRegistry()
	s.Register(reg)
	value := func(name string, labels ...string) float64 {
		t.Helper()
		return metricstest.Value(t, reg, name, labels...)
	}
	if n := value("otpgate_callbacks_pending"); n != 7 {
		t.Fatalf("pending before start: %v, want 7", n)
	}
	if age := value("otpgate_callbacks_oldest_age_seconds"); age < 0 || age > 60 {
		t.Errorf("oldest age %v s, want the seconds since the callbacks were made", age)
	}
	s.Start(t.Context())
	t.Cleanup(s.Stop)
	waitFor(t, "the fine host's 4 delivered", func() bool { return value("otpgate_callback_attempts_total", "result", "delivered") == 4 })
	waitFor(t, "the broken host's circuit open", func() bool { return value("otpgate_callback_circuit_opens_total") == 1 })
	if v := value("otpgate_callback_circuits_open"); v != 1 {
		t.Errorf("circuits open %v, want 1", v)
	}
	if v := value("otpgate_callback_attempts_total", "result", "failed"); v != 2 {
		t.Errorf("failed attempts %v, want 2 (the circuit opens after 2)", v)
	}
	if n := value("otpgate_callbacks_pending"); n != 3 {
		t.Errorf("pending %v, want the broken host's 3", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric names: %v %v", problems, err)
	}
}

// backlogDown is a store whose backlog cannot be read.
type backlogDown struct{ *memStore }

func (backlogDown) CallbackBacklog(context.Context) (int, time.Time, error) {
	return 0, time.Time{}, errors.New("database down")
}

// A scrape while the store is down still gathers: the backlog is left out,
// the sender's other metrics are there.
func TestSenderMetricsStoreDown(t *testing.T) {
	s := NewSender(SenderConfig{Store: backlogDown{&memStore{}}, Tokens: plainOpener{}})
	reg := prometheus.NewPedanticRegistry()
	s.Register(reg)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gathering with the store down: %v", err)
	}
	if v := metricstest.Value(t, reg, "otpgate_callbacks_pending"); v != -1 {
		t.Errorf("otpgate_callbacks_pending = %v with the store down, want it left out", v)
	}
	if v := metricstest.Value(t, reg, "otpgate_callbacks_in_flight"); v != 0 {
		t.Errorf("otpgate_callbacks_in_flight = %v, want 0", v)
	}
}

// releaseFailsOnce fails the first ReleaseCallbacks (a store hiccup).
type releaseFailsOnce struct {
	*memStore
	failed atomic.Bool
}

func (r *releaseFailsOnce) ReleaseCallbacks(ctx context.Context, rs []callback.Release) error {
	if r.failed.CompareAndSwap(false, true) {
		return errors.New("store hiccup")
	}
	return r.memStore.ReleaseCallbacks(ctx, rs)
}

// Callbacks whose give-back failed are given back at the next try, not left
// to wait out their leases.
func TestSenderGivesBackAfterAFailedRelease(t *testing.T) {
	slow := newHostServer(t, true)
	store := &releaseFailsOnce{memStore: &memStore{}}
	newCallbacks(store.memStore, 5, "AC1", slow.URL)
	s := startSender(t, SenderConfig{Store: store, PerHost: 1, Timeout: 5 * time.Second, Lease: time.Hour})
	waitFor(t, "one POST in flight", func() bool { return slow.requests.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	waitFor(t, "the 4 held callbacks given back despite the failed release", func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.released == 4
	})
	slow.release()
	<-stopped
}

// Four accounts whose receivers never answer, each owed callbacks at two
// of them, do not take every worker: each has at most its share, a share is
// kept free, and a fifth account's callbacks, made while the others hang,
// are delivered at once. (Before, 4 × PerAccount = 32 POSTs that never end
// took every worker, and the fifth account waited for their timeouts.)
func TestSenderFairShare(t *testing.T) {
	store := &memStore{}
	var hanging [4][2]*hostServer
	for a := range hanging {
		for i := range hanging[a] {
			hanging[a][i] = newHostServer(t, true)
			newCallbacks(store, 15, fmt.Sprintf("AC%d", a), hanging[a][i].URL)
		}
	}
	fast := newHostServer(t, false)
	s := startSender(t, SenderConfig{Store: store, Timeout: time.Minute}) // 32 workers, 8 an account, 4 a route
	t.Cleanup(func() {                                                    // before Stop, which waits for POSTs in flight
		for _, hs := range hanging {
			hs[0].release()
			hs[1].release()
		}
	})
	hangingNow := func() (each [4]int64, total int64) {
		for a, hs := range hanging {
			each[a] = hs[0].inFlight.Load() + hs[1].inFlight.Load()
			total += each[a]
		}
		return each, total
	}
	waitFor(t, "every hanging account with a POST in flight", func() bool {
		each, _ := hangingNow()
		return !slices.Contains(each[:], 0)
	})
	time.Sleep(100 * time.Millisecond) // the rest is claimed, and held
	each, total := hangingNow()
	t.Logf("POSTs in flight at the hanging receivers, by account: %v (%d of 32 workers)", each, total)
	if total >= 32 {
		t.Errorf("accounts whose receivers hang took every worker: %v", each)
	}

	newCallbacks(store, 10, "ACfast", fast.URL)
	start := time.Now()
	s.Wake()
	waitFor(t, "the fifth account's 10 callbacks", func() bool { return fast.requests.Load() == 10 })
	t.Logf("the fifth account's 10 callbacks delivered in %v", time.Since(start))
	if d := time.Since(start); d > time.Second {
		t.Errorf("the fifth account's callbacks took %v behind the hanging ones, want < 1 s", d)
	}
	if each, total := hangingNow(); total >= 32 || slices.Max(each[:]) > 8 {
		t.Errorf("POSTs in flight at the hanging receivers, by account: %v; want at most 8 (PerAccount) each, and a worker free", each)
	}
}

// One account's backlog, claimed first and longer than MaxHeld, does not
// keep another account's callbacks to the same host waiting: the account
// that has the fewest POSTs in flight goes first, and beyond MaxHeld the
// account holding the most gives callbacks back, not the one that came last.
func TestSenderBacklogDoesNotStarveOthers(t *testing.T) {
	h := newHostServer(t, false)
	store := &memStore{}
	newCallbacks(store, 60, "ACbig", h.URL+"/big")
	s := startSender(t, SenderConfig{Store: store, Concurrency: 4, PerHost: 4, PerAccount: 4, MaxHeld: 8,
		FirstRetry: time.Minute, Poll: 10 * time.Millisecond})
	waitFor(t, "the big account's first POSTs", func() bool { return h.requestsFor("big") >= 2 })
	newCallbacks(store, 3, "ACsmall", h.URL+"/small")
	s.Wake()
	waitFor(t, "the small account's 3 callbacks", func() bool { return h.requestsFor("small") == 3 })
	big := h.requestsFor("big")
	t.Logf("the big account had %d POSTs when the small one's 3 were in", big)
	if big > 20 {
		t.Errorf("the big account had %d of its 60 POSTed before the small account's 3", big)
	}
}

// A circuit is one account's at one host. Account A's callbacks to a host
// (a webhook relay both apps use) fail until A's circuit opens; account B's
// callbacks to the same host are then POSTed at once, B's successes do not
// close A's circuit, and A's callbacks get no POST until it half opens.
// (Before, the host's circuit held B's callbacks back for its cool-down.)
func TestSenderCircuitPerAccount(t *testing.T) {
	relay := newHostServer(t, false)
	relay.mu.Lock()
	relay.failFor["A"] = true
	relay.mu.Unlock()
	store := &memStore{}
	newCallbacks(store, 10, "ACa", relay.URL+"/A")
	logs := &syncbuf.Buffer{}
	s := startSender(t, SenderConfig{Store: store, PerHost: 1, BreakAfter: 3, CoolDown: time.Minute,
		FirstRetry: 10 * time.Millisecond, Timeout: time.Second, Lease: 3 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	waitFor(t, "A's circuit open", func() bool { return strings.Contains(logs.String(), "circuit is open") })
	if n := relay.requestsFor("A"); n != 3 {
		t.Fatalf("%d POSTs of A's before its circuit opened, want 3", n)
	}

	newCallbacks(store, 10, "ACb", relay.URL+"/B")
	start := time.Now()
	s.Wake()
	waitFor(t, "B's 10 callbacks to the same host", func() bool { return relay.requestsFor("B") == 10 })
	t.Logf("B's 10 callbacks to the host where A's circuit is open delivered in %v", time.Since(start))
	time.Sleep(50 * time.Millisecond)
	if n := relay.requestsFor("A"); n != 3 {
		t.Errorf("%d POSTs of A's, want still 3: B's successes closed A's circuit", n)
	}
	log := logs.String()
	if !strings.Contains(log, "account_sid=ACa") || !strings.Contains(log, "host="+strings.TrimPrefix(relay.URL, "http://")) {
		t.Errorf("the circuit's opening is not logged with its account and host:\n%s", log)
	}
}
