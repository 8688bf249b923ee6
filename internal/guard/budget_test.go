package guard_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
)

type lockedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *lockedClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *lockedClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// downStore is a BudgetStore whose database is down while down is set.
type downStore struct {
	guard.BudgetStore
	mu   sync.Mutex
	down bool
}

func (f *downStore) set(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }
func (f *downStore) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return store.ErrUnavailable
	}
	return nil
}
func (f *downStore) AddGuardCounts(ctx context.Context, c []guardstate.Count) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.BudgetStore.AddGuardCounts(ctx, c)
}
func (f *downStore) GuardKeyTotals(ctx context.Context, key string, since time.Time) ([]guardstate.Total, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.BudgetStore.GuardKeyTotals(ctx, key, since)
}

// The daily budget as two nodes of one database keep it: each SMS counts
// once stored; the budget holds over both nodes once they synced; the
// refusal is 429, code 20429, naming the budget, with a Retry-After that
// ends when the oldest hour counted leaves the day; a day later the
// account sends again. With the database down, a node goes on counting
// what it sees, and shares it once the database is back.
func TestBudgetAcrossNodes(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &lockedClock{now: time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)}
	fs := &downStore{BudgetStore: st}
	a := guard.NewBudget(guard.BudgetConfig{Store: fs, Clock: clock})
	b := guard.NewBudget(guard.BudgetConfig{Store: st, Clock: clock})
	send := func(g *guard.Budget, account string) error {
		s := pipeline.Send{AccountSID: account, To: mustNumber(t, "+962790000001"), Ceilings: policy.Effective{DailyBudget: 5}}
		if err := g.Allow(ctx, s); err != nil {
			return err
		}
		g.Sent(ctx, s, pipeline.Result{Message: message.Message{CreatedAt: clock.Now()}})
		return nil
	}
	for i := range 3 {
		if err := send(a, "AC1"); err != nil {
			t.Fatalf("SMS %d on node a: %v", i+1, err)
		}
		clock.Add(20 * time.Minute) // 10:30, 10:50, 11:10
	}
	a.SyncNow(ctx)
	b.SyncNow(ctx)
	for i := range 2 {
		if err := send(b, "AC1"); err != nil {
			t.Fatalf("SMS %d on node b: %v", i+4, err)
		}
	}
	for name, g := range map[string]*guard.Budget{"b before syncing": b} {
		err := send(g, "AC1")
		e := otpgate.AsError(err)
		if e == nil || e.Code != otpgate.CodeTooManyRequests || !strings.Contains(e.Message, "daily budget of 5 SMS") {
			t.Fatalf("the 6th SMS, %s: %v", name, err)
		}
	}
	b.SyncNow(ctx)
	a.SyncNow(ctx)
	err = send(a, "AC1")
	e := otpgate.AsError(err)
	// It is 11:30. The oldest two SMS were sent in the 10:00 hour; that
	// hour leaves the window 25 hours after it began: tomorrow at 11:00,
	// 23h30m from now.
	if e == nil || e.RetryAfter != 23*time.Hour+30*time.Minute || !strings.Contains(e.Message, "in 24 h") {
		t.Fatalf("the 6th SMS on node a after the sync: %#v", err)
	}
	if err := send(a, "AC2"); err != nil {
		t.Fatalf("another account's SMS: %v", err)
	}
	if err := a.Allow(ctx, pipeline.Send{AccountSID: "AC1", Ceilings: policy.Effective{DailyBudget: 0}}); err != nil {
		t.Fatalf("an account with no budget: %v", err)
	}
	clock.Add(23*time.Hour + 30*time.Minute)
	a.SyncNow(ctx)
	for i := range 2 {
		if err := send(a, "AC1"); err != nil {
			t.Fatalf("a day later, SMS %d: %v", i+1, err)
		}
	}

	// The database goes down: node a counts on, and shares it once back.
	fs.set(true)
	a.SyncNow(ctx)
	for i := range 2 {
		if err := send(a, "AC3"); err != nil {
			t.Fatalf("with the database down, SMS %d: %v", i+1, err)
		}
	}
	a.SyncNow(ctx)
	fs.set(false)
	a.SyncNow(ctx)
	b.SyncNow(ctx)
	totals, _ := st.GuardKeyTotals(ctx, "sms", clock.Now().Add(-25*time.Hour))
	got := map[string]int{}
	for _, t := range totals {
		got[t.AccountSID] = t.Sends
	}
	if got["AC3"] != 2 {
		t.Fatalf("counts shared once the database is back: %v", got)
	}
}
