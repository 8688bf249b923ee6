package guard_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// memStore is guard.PumpingStore in memory, for the simulation (the real
// stores pass storetest's Guard group against the same contract).
type memStore struct {
	mu     sync.Mutex
	counts map[[2]string]map[int64]*[2]int
	blocks map[[2]string]guardstate.Block
	safe   map[string][]string
}

func newMemStore() *memStore {
	return &memStore{counts: map[[2]string]map[int64]*[2]int{}, blocks: map[[2]string]guardstate.Block{}, safe: map[string][]string{}}
}

func (m *memStore) AddGuardCounts(_ context.Context, cs []guardstate.Count) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cs {
		k := [2]string{c.AccountSID, c.Key}
		if m.counts[k] == nil {
			m.counts[k] = map[int64]*[2]int{}
		}
		if m.counts[k][c.Minute] == nil {
			m.counts[k][c.Minute] = new([2]int)
		}
		m.counts[k][c.Minute][0] += c.Sends
		m.counts[k][c.Minute][1] += c.Approvals
	}
	return nil
}

func (m *memStore) GuardTotals(_ context.Context, short, baseline time.Time) ([]guardstate.Total, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, b := short.Unix()/60, baseline.Unix()/60
	var out []guardstate.Total
	for k, mins := range m.counts {
		t := guardstate.Total{AccountSID: k[0], Key: k[1], Oldest: math.MaxInt64}
		for minute, c := range mins {
			if minute >= s {
				t.Sends += c[0]
				t.Approvals += c[1]
			}
			if minute >= b {
				t.BaselineSends += c[0]
				t.Oldest = min(t.Oldest, minute)
			}
		}
		if t.Sends > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

func (m *memStore) GuardBlocks(_ context.Context, since time.Time) ([]guardstate.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []guardstate.Block
	for _, b := range m.blocks {
		if b.Until.After(since) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (m *memStore) PutGuardBlock(_ context.Context, b guardstate.Block, _ []callback.Callback) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{b.AccountSID, b.Key}
	if cur, ok := m.blocks[k]; ok && !cur.Lifted && cur.Until.After(b.Since) {
		return nil
	}
	m.blocks[k] = b
	return nil
}

func (m *memStore) LiftGuardBlock(_ context.Context, account, key string, now time.Time) (guardstate.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{account, key}
	b, ok := m.blocks[k]
	if !ok || b.Lifted || !b.Until.After(now) {
		return guardstate.Block{}, store.ErrNotFound
	}
	b.Until, b.Lifted = now, true
	m.blocks[k] = b
	delete(m.counts, k)
	return b, nil
}

func (m *memStore) GuardSafeList(_ context.Context, account string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.safe[account], nil
}

func (m *memStore) SetGuardSafe(_ context.Context, account string, add, _ []string, _ int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.safe[account] = append(m.safe[account], add...)
	return nil
}

func (m *memStore) ForgetGuard(_ context.Context, prefixesBefore, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, a := prefixesBefore.Unix()/60, before.Unix()/60
	n := 0
	for k, mins := range m.counts {
		for min := range mins {
			if min < a || (min < p && strings.HasPrefix(k[1], "prefix:")) {
				delete(mins, min)
				n++
			}
		}
		if len(mins) == 0 {
			delete(m.counts, k)
		}
	}
	for k, b := range m.blocks {
		if b.Until.Before(before) {
			delete(m.blocks, k)
			n++
		}
	}
	return n, nil
}

type simClock struct{ now time.Time }

func (c *simClock) Now() time.Time { return c.now }

// The model of ordinary traffic: one Jordanian app's sign-in codes, 3 a
// second on average over the day (259,200 a day), shaped by the hour
// (quiet at night, busiest in the evening), with Poisson arrivals. Numbers
// are random mobiles of Zain (+96279, 40%), Orange (+96277, 32%) and Umniah
// (+96278, 28%). 80% of codes are approved 10-120 s after they were sent;
// 10% of users ask for a second code 30-60 s after the first.
var hourWeights = [24]float64{0.2, 0.15, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.2, 1.4, 1.5, 1.5, 1.5, 1.4, 1.4, 1.4, 1.5, 1.6, 1.7, 1.8, 1.8, 1.6, 1.0, 0.5}

const simAverage = 3.0 // codes a second

var operators = []struct {
	name, digit string
	share       float64
}{{"Zain", "9", 0.40}, {"Orange", "7", 0.32}, {"Umniah", "8", 0.28}}

// attack is SMS pumping: codes to sequential numbers from first, every
// interval, never checked; or, spread, to random numbers of one operator.
type attack struct {
	name     string
	start    time.Time
	interval time.Duration
	count    int
	first    string // "+96277512" and 4 digits from 0000
	spread   string // an operator's digit: random numbers of it

	sent, accepted, beforeBlock int
	blockedAt                   time.Time
}

type event struct {
	at     time.Time
	resend bool
	num    phone.Number
}

type simResult struct {
	ordinary, ordinaryRefused int
	refusedBy                 map[string]int
	blocks                    []guardstate.Block
	attacks                   []*attack
}

func mobile(rng *rand.Rand, digit, op string) phone.Number {
	return phone.Number{E164: fmt.Sprintf("+9627%s%07d", digit, rng.IntN(10_000_000)), Region: "JO", Operator: op, Type: "mobile"}
}

func operatorOf(digit string) string {
	for _, o := range operators {
		if o.digit == digit {
			return o.name
		}
	}
	return ""
}

// simulate runs the guard over days of traffic from start, with the
// attacks, and a delivery outage (no code arrives, so none is approved, and
// half the users ask again) from outage for outageFor.
func simulate(t *testing.T, start time.Time, length time.Duration, attacks []*attack, outage time.Time, outageFor time.Duration) simResult {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 62))
	clock := &simClock{now: start}
	ms := newMemStore()
	g := guard.NewPumping(guard.PumpingConfig{Store: ms, Clock: clock})
	mean := 0.0
	for _, w := range hourWeights {
		mean += w / 24
	}
	res := simResult{refusedBy: map[string]int{}, attacks: attacks}
	var queue []event // approvals and resends, kept sorted by time
	schedule := func(e event) {
		i := sort.Search(len(queue), func(i int) bool { return queue[i].at.After(e.at) })
		queue = append(queue, event{})
		copy(queue[i+1:], queue[i:])
		queue[i] = e
	}
	send := func(n phone.Number, resend bool) error {
		s := pipeline.Send{AccountSID: "AC1", To: n, Code: true, Service: "login"}
		if err := g.Allow(ctx, s); err != nil {
			return err
		}
		g.Sent(ctx, s, pipeline.Result{To: n, Verification: &verification.Change{New: !resend}})
		return nil
	}
	inOutage := func(at time.Time) bool { return !at.Before(outage) && at.Before(outage.Add(outageFor)) }
	ordinary := func(n phone.Number, resend bool) {
		res.ordinary++
		if err := send(n, resend); err != nil {
			res.ordinaryRefused++
			msg := err.Error()
			res.refusedBy[msg[:strings.Index(msg, " are blocked")]]++
			return
		}
		if inOutage(clock.now) {
			if rng.Float64() < 0.5 {
				schedule(event{at: clock.now.Add(time.Duration(30+rng.IntN(31)) * time.Second), resend: true, num: n})
			}
			return
		}
		if rng.Float64() < 0.8 {
			schedule(event{at: clock.now.Add(time.Duration(10+rng.IntN(111)) * time.Second), num: n})
		}
	}
	const step = 100 * time.Millisecond
	next := map[*attack]time.Time{}
	for _, a := range attacks {
		next[a] = a.start
	}
	end := start.Add(length)
	for ; clock.now.Before(end); clock.now = clock.now.Add(step) {
		lambda := simAverage * hourWeights[clock.now.Hour()] / mean * step.Seconds()
		// Poisson arrivals (Knuth), small lambda.
		l, k, p := math.Exp(-lambda), 0, 1.0
		for {
			p *= rng.Float64()
			if p <= l {
				break
			}
			k++
		}
		for range k {
			r, o := rng.Float64(), operators[len(operators)-1]
			for _, op := range operators {
				if r < op.share {
					o = op
					break
				}
				r -= op.share
			}
			n := mobile(rng, o.digit, o.name)
			ordinary(n, false)
			if rng.Float64() < 0.1 {
				schedule(event{at: clock.now.Add(time.Duration(30+rng.IntN(31)) * time.Second), resend: true, num: n})
			}
		}
		for len(queue) > 0 && !queue[0].at.After(clock.now) {
			e := queue[0]
			queue = queue[1:]
			if e.resend {
				ordinary(e.num, true)
			} else if !inOutage(e.at) {
				g.Approved(ctx, "AC1", e.num, "")
			}
		}
		for _, a := range attacks {
			for a.sent < a.count && !next[a].After(clock.now) {
				var n phone.Number
				if a.spread != "" {
					n = mobile(rng, a.spread, operatorOf(a.spread))
				} else {
					n = phone.Number{E164: fmt.Sprintf("%s%04d", a.first, a.sent), Region: "JO", Operator: operatorOf(a.first[5:6]), Type: "mobile"}
				}
				a.sent++
				next[a] = next[a].Add(a.interval)
				if err := send(n, false); err != nil {
					if a.blockedAt.IsZero() {
						a.blockedAt, a.beforeBlock = clock.now, a.accepted
					}
					continue
				}
				a.accepted++
			}
		}
		if clock.now.UnixMilli()%10000 == 0 { // one node: syncing only shares what it judged already
			g.SyncNow(ctx)
		}
	}
	g.Stop()
	for _, b := range ms.blocks {
		res.blocks = append(res.blocks, b)
	}
	sort.Slice(res.blocks, func(i, j int) bool { return res.blocks[i].Since.Before(res.blocks[j].Since) })
	return res
}

// A simulated day (after two hours of the same traffic to learn its usual
// rates): pumping bursts to sequential numbers in one prefix are blocked
// after 15 codes (up to 20 when ordinary users there approve theirs); a flood spread over one operator is blocked once it is 3
// times the operator's usual rate; a 20-minute delivery outage at the
// busiest hour (no code approved) blocks nothing; ordinary traffic is never
// blocked except inside the operator's block.
func TestPumpingSimulatedDay(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a day")
	}
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time {
		return day.Add(24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	attacks := []*attack{
		{name: "night, slow: 1 every 5 s", start: at(3, 0), interval: 5 * time.Second, count: 200, first: "+96277512"},
		{name: "morning: 1 a second", start: at(11, 0), interval: time.Second, count: 300, first: "+96279877"},
		{name: "peak, fast: 20 a second", start: at(20, 30), interval: 50 * time.Millisecond, count: 1000, first: "+96278100"},
		{name: "5 prefixes at once (1)", start: at(14, 0), interval: 2 * time.Second, count: 100, first: "+96279120"},
		{name: "5 prefixes at once (2)", start: at(14, 0), interval: 2 * time.Second, count: 100, first: "+96279121"},
		{name: "5 prefixes at once (3)", start: at(14, 0), interval: 2 * time.Second, count: 100, first: "+96279122"},
		{name: "5 prefixes at once (4)", start: at(14, 0), interval: 2 * time.Second, count: 100, first: "+96279123"},
		{name: "5 prefixes at once (5)", start: at(14, 0), interval: 2 * time.Second, count: 100, first: "+96279124"},
		{name: "spread over Umniah: 15 a second, random numbers", start: at(16, 0), interval: time.Second / 15, count: 15 * 60 * 15, spread: "8"},
	}
	res := simulate(t, day.Add(22*time.Hour), 26*time.Hour, attacks, at(19, 0), 20*time.Minute)

	t.Logf("ordinary codes: %d over 26 hours; refused: %d %v", res.ordinary, res.ordinaryRefused, res.refusedBy)
	for _, a := range res.attacks {
		t.Logf("attack %-50s sent %5d, accepted %5d, blocked after %4d (%s after it began)", a.name, a.sent, a.accepted, a.beforeBlock, a.blockedAt.Sub(a.start))
	}
	attacked := map[string]bool{"operator:JO:Umniah": true}
	for _, a := range res.attacks {
		if a.first != "" {
			attacked["prefix:"+a.first] = true
		}
	}
	var umniah guardstate.Block
	for _, b := range res.blocks {
		t.Logf("block %-22s level %d %s-%s: %s", b.Key, b.Level, b.Since.Format("Jan 2 15:04:05"), b.Until.Format("15:04:05"), b.Reason)
		if !attacked[b.Key] {
			t.Errorf("ordinary traffic blocked: %s (%s)", b.Key, b.Reason)
		}
		if b.Key == "operator:JO:Umniah" {
			umniah = b
		}
	}
	for _, a := range res.attacks {
		switch {
		case a.blockedAt.IsZero():
			t.Errorf("attack %q was never blocked (%d codes accepted)", a.name, a.accepted)
		case a.first != "" && a.beforeBlock > 20:
			// 15, and a few more when ordinary approvals in the prefix
			// lift its share over 20% for a while.
			t.Errorf("attack %q: %d codes before the block, want at most 20", a.name, a.beforeBlock)
		case a.spread != "" && a.beforeBlock > 3000:
			t.Errorf("attack %q: %d codes before the block, want at most 3000", a.name, a.beforeBlock)
		}
	}
	if umniah.Key == "" {
		t.Fatal("the spread attack did not block Umniah")
	}
	collateral := 0
	for by, n := range res.refusedBy {
		key := ""
		if v, ok := strings.CutPrefix(by, "Codes to numbers starting "); ok {
			key = "prefix:" + v
		} else if v, ok := strings.CutPrefix(by, "Codes to operator "); ok {
			key = "operator:" + v
		}
		if !attacked[key] {
			t.Errorf("%d ordinary codes refused by %q", n, by)
		}
		collateral += n
	}
	t.Logf("ordinary codes refused because they went where an attack was blocked: %d of %d (%.3f%%)", collateral, res.ordinary, 100*float64(collateral)/float64(res.ordinary))
}

// A new deployment knows no usual rate: a flood of unapproved codes spread
// over many prefixes blocks no operator or country until it has half an
// hour of history (its prefixes are still judged).
func TestPumpingNoWideBlockWithoutHistory(t *testing.T) {
	ctx := context.Background()
	clock := &simClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	g := guard.NewPumping(guard.PumpingConfig{Store: newMemStore(), Clock: clock})
	for i := range 2000 {
		if i%500 == 499 { // the first sync after 500 codes, as under load
			g.SyncNow(ctx)
		}
		n := phone.Number{E164: fmt.Sprintf("+96279%03d%04d", i%1000, i), Region: "JO", Operator: "Zain", Type: "mobile"}
		s := pipeline.Send{AccountSID: "AC1", To: n, Code: true}
		if err := g.Allow(ctx, s); err != nil {
			t.Fatalf("code %d refused: %v", i, err)
		}
		g.Sent(ctx, s, pipeline.Result{Verification: &verification.Change{New: true}})
		clock.now = clock.now.Add(100 * time.Millisecond)
	}
	g.Stop()
	if bs, _ := g.Blocks(ctx, "AC1"); len(bs) != 0 {
		t.Fatalf("blocks without history: %+v", bs)
	}
}

// failingStore fails every call while down is set.
type failingStore struct {
	*memStore
	mu   sync.Mutex
	down bool
}

func (f *failingStore) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return store.ErrUnavailable
	}
	return nil
}

func (f *failingStore) AddGuardCounts(ctx context.Context, cs []guardstate.Count) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.memStore.AddGuardCounts(ctx, cs)
}

func (f *failingStore) GuardTotals(ctx context.Context, a, b time.Time) ([]guardstate.Total, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.memStore.GuardTotals(ctx, a, b)
}

func (f *failingStore) GuardSafeList(ctx context.Context, account string) ([]string, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.memStore.GuardSafeList(ctx, account)
}

func (f *failingStore) PutGuardBlock(ctx context.Context, b guardstate.Block, cbs []callback.Callback) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.memStore.PutGuardBlock(ctx, b, cbs)
}

// When its shared state cannot be reached the guard fails open: codes go,
// it says so once in the log (and Failing, which /healthz shows), keeps
// judging what this node sees, and shares its counts and its block once
// the store is back.
func TestPumpingFailsOpen(t *testing.T) {
	ctx := context.Background()
	clock := &simClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	fs := &failingStore{memStore: newMemStore(), down: true}
	var logged strings.Builder
	var logMu sync.Mutex
	g := guard.NewPumping(guard.PumpingConfig{Store: fs, Clock: clock, Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logged.Write(p)
	}), nil))})
	reg := prometheus.NewPedanticRegistry()
	g.Register(reg)
	metric := func(name, scope string) float64 {
		t.Helper()
		if scope == "" {
			return metricstest.Value(t, reg, name)
		}
		return metricstest.Value(t, reg, name, "scope", scope)
	}
	send := func(e164 string) error {
		s := pipeline.Send{AccountSID: "AC1", To: phone.Number{E164: e164, Region: "JO", Operator: "Zain"}, Code: true}
		if err := g.Allow(ctx, s); err != nil {
			return err
		}
		g.Sent(ctx, s, pipeline.Result{Verification: &verification.Change{New: true}})
		return nil
	}
	for i := range 10 {
		if err := send(fmt.Sprintf("+96279061%04d", i)); err != nil {
			t.Fatalf("code %d while the store is down: %v", i, err)
		}
	}
	g.SyncNow(ctx)
	if !g.Failing() {
		t.Fatal("Failing() is false while the store is down")
	}
	if v := metric("otpgate_guard_failing_open", ""); v != 1 {
		t.Errorf("otpgate_guard_failing_open %v while the store is down", v)
	}
	logMu.Lock()
	if n := strings.Count(logged.String(), "failing open"); n != 1 {
		t.Errorf("%d log lines say it fails open, want 1:\n%s", n, logged.String())
	}
	logMu.Unlock()
	// It still judges what it sees: 5 more codes to the prefix make 15.
	for i := 10; i < 15; i++ {
		if err := send(fmt.Sprintf("+96279061%04d", i)); err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
	}
	if err := send("+962790610015"); err == nil || !strings.Contains(err.Error(), "+96279061") {
		t.Fatalf("the 16th code while the store is down: %v, want it blocked", err)
	}
	for _, c := range []struct {
		name, scope string
		want        float64
	}{
		{"otpgate_guard_blocks_total", "prefix", 1},
		{"otpgate_guard_refusals_total", "prefix", 1},
		{"otpgate_guard_blocks_active", "prefix", 1},
		{"otpgate_guard_blocks_total", "operator", 0},
	} {
		if v := metric(c.name, c.scope); v != c.want {
			t.Errorf("%s{scope=%q} = %v, want %v", c.name, c.scope, v, c.want)
		}
	}
	fs.mu.Lock()
	fs.down = false
	fs.mu.Unlock()
	g.Stop()       // its attempt to store the block has ended
	g.SyncNow(ctx) // and this one stores it if that attempt failed
	if g.Failing() {
		t.Fatal("Failing() is still true once the store is back")
	}
	if v := metric("otpgate_guard_failing_open", ""); v != 0 {
		t.Errorf("otpgate_guard_failing_open %v once the store is back", v)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric names: %v %v", problems, err)
	}
	if bs, _ := fs.memStore.GuardBlocks(ctx, clock.now); len(bs) != 1 || bs[0].Key != "prefix:+96279061" {
		t.Errorf("the blocks stored once the store is back: %+v, want the one decided while it was down", bs)
	}
	totals, _ := fs.memStore.GuardTotals(ctx, clock.now.Add(-time.Hour), clock.now.Add(-time.Hour))
	for _, tot := range totals {
		if tot.Key == "prefix:+96279061" && tot.Sends != 15 {
			t.Errorf("the prefix's shared count once the store is back: %d, want the 15 counted while it was down", tot.Sends)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// BenchmarkPumpingSend is the guard's part of one code: Allow before it is
// stored and Sent after, to fresh numbers over 1,000 prefixes, from
// parallel goroutines, syncing with an in-memory store every 10,000 codes.
func BenchmarkPumpingSend(b *testing.B) {
	ctx := context.Background()
	g := guard.NewPumping(guard.PumpingConfig{Store: newMemStore(), PrefixSends: 1 << 30})
	var seq atomic.Int64
	res := pipeline.Result{Verification: &verification.Change{New: true}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			if i%10000 == 0 {
				g.SyncNow(ctx)
			}
			n := phone.Number{E164: fmt.Sprintf("+96279%03d%04d", i%1000, i%10000), Region: "JO", Operator: "Zain", Type: "mobile"}
			s := pipeline.Send{AccountSID: "AC1", To: n, Code: true}
			if err := g.Allow(ctx, s); err != nil {
				b.Fatal(err)
			}
			g.Sent(ctx, s, res)
		}
	})
}

// ctxStore fails a read whose context is done, as a database driver does.
type ctxStore struct{ *memStore }

func (c ctxStore) GuardSafeList(ctx context.Context, account string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.memStore.GuardSafeList(ctx, account)
}

// A client that hangs up while its code's safe list is read is not the
// guard's store failing: the guard does not say it fails open.
func TestPumpingClientHangUpIsNoStoreFailure(t *testing.T) {
	g := guard.NewPumping(guard.PumpingConfig{Store: ctxStore{newMemStore()}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := pipeline.Send{AccountSID: "AC1", To: phone.Number{E164: "+962790000001", Region: "JO"}, Code: true}
	if err := g.Allow(ctx, s); err != nil {
		t.Fatal(err)
	}
	if g.Failing() {
		t.Fatal("a canceled request made the guard fail open")
	}
}
