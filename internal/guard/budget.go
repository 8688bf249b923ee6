package guard

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/pipeline"
)

// budgetKey is the key the daily budget's counts are shared under
// (guardstate.Count), one per account and hour.
const budgetKey = "sms"

// BudgetStore shares the daily budget's counts between nodes.
type BudgetStore interface {
	// AddGuardCounts adds counts (increments: nodes add concurrently).
	AddGuardCounts(ctx context.Context, counts []guardstate.Count) error
	// GuardKeyTotals sums one key's sends per account since since.
	GuardKeyTotals(ctx context.Context, key string, since time.Time) ([]guardstate.Total, error)
	// GuardKeyCounts returns an account's counts of one key since since,
	// oldest first.
	GuardKeyCounts(ctx context.Context, accountSID, key string, since time.Time) ([]guardstate.Count, error)
}

// BudgetConfig configures Budget.
type BudgetConfig struct {
	Store  BudgetStore
	Clock  otpgate.Clock
	Logger *slog.Logger
	// Sync is how often a node shares its counts and reads the others';
	// default 2 s.
	Sync time.Duration
}

// Budget is the daily SMS budget of each account (its ceilings'
// DailyBudget): an SMS of an account that sent its budget in the last 24
// hours is refused (429, code 20429) until enough of them are more than a
// day old. Every SMS counts, a code or a message, once stored (Sent). Each
// node counts in memory, by the hour, and shares its counts with the
// others through the store every Sync, so a send costs the store nothing:
// an account's budget holds across nodes and restarts to within what its
// nodes send between two syncs (and what is in flight at once), which is
// what a daily cost ceiling needs. If the store cannot be reached the
// budget is judged on what this node knows (fails open), and its counts
// are shared once it can.
type Budget struct {
	cfg BudgetConfig

	mu      sync.Mutex
	shared  map[string]int                // every node's sends in the window, at the last sync
	pending map[string]map[int64]int      // this node's sends since, by account and hour (Unix minutes)
	counts  map[string][]guardstate.Count // an account's hours, read when it was refused, until the next sync
	failing bool
	lastErr time.Time

	syncMu sync.Mutex
	loop   *periodic.Loop
	once   sync.Once
}

// NewBudget returns the daily budget; Start it to share counts.
func NewBudget(cfg BudgetConfig) *Budget {
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sync == 0 {
		cfg.Sync = 2 * time.Second
	}
	return &Budget{cfg: cfg, shared: map[string]int{}, pending: map[string]map[int64]int{}, counts: map[string][]guardstate.Count{}}
}

// hourOf is the hour an SMS at t is counted in, as Unix minutes.
func hourOf(t time.Time) int64 { return t.Unix() / 3600 * 60 }

// since is where the window starts at now: the hours that began within
// the last 24 hours and the one under way 24 hours ago (the window is
// counted by the hour, so it holds between 24 and 25 hours of sends).
func since(now time.Time) time.Time { return time.Unix(hourOf(now.Add(-24*time.Hour))*60, 0) }

// Allow refuses an SMS of an account whose last day's sends reached its
// budget.
func (b *Budget) Allow(ctx context.Context, s pipeline.Send) error {
	budget := s.Ceilings.DailyBudget
	if budget <= 0 {
		return nil
	}
	b.mu.Lock()
	used := b.shared[s.AccountSID]
	for _, n := range b.pending[s.AccountSID] {
		used += n
	}
	b.mu.Unlock()
	if used < budget {
		return nil
	}
	now := b.cfg.Clock.Now()
	retry := b.retryAt(ctx, s.AccountSID, used, budget, now)
	wait := max(retry.Sub(now), time.Second)
	e := otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeTooManyRequests,
		"This account reached its daily budget of %s SMS: that many were sent in the last day; the next can be sent in %s, or the operator of this otpgate can raise the budget (otpgate policy set --account %s --daily-budget N)",
		thousands(budget), roughly(wait), s.AccountSID)
	e.RetryAfter = (wait + time.Second - 1) / time.Second * time.Second
	return e
}

// retryAt is when enough of an account's counted hours leave the window
// for it to send again: read from the store once per sync (the refusals
// of an account over its budget read nothing more), else an hour from now.
func (b *Budget) retryAt(ctx context.Context, account string, used, budget int, now time.Time) time.Time {
	b.mu.Lock()
	hours, ok := b.counts[account]
	b.mu.Unlock()
	if !ok && b.cfg.Store != nil {
		var err error
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		hours, err = b.cfg.Store.GuardKeyCounts(rctx, account, budgetKey, since(now))
		cancel()
		if err != nil {
			return now.Add(time.Hour)
		}
		b.mu.Lock()
		b.counts[account] = hours
		b.mu.Unlock()
	}
	// With this node's own, not shared yet.
	byHour := map[int64]int{}
	for _, h := range hours {
		byHour[h.Minute] += h.Sends
	}
	b.mu.Lock()
	for h, n := range b.pending[account] {
		byHour[h] += n
	}
	b.mu.Unlock()
	order := slices.Sorted(maps.Keys(byHour))
	over := used - budget + 1
	for _, h := range order {
		if over -= byHour[h]; over <= 0 {
			return time.Unix(h*60, 0).Add(25 * time.Hour) // when its hour leaves the window
		}
	}
	return now.Add(time.Hour) // counted by other nodes since the last read: the next sync knows more
}

// Sent counts an SMS stored: every one, so that a budget the operator
// sets counts the day's sends before it.
func (b *Budget) Sent(_ context.Context, s pipeline.Send, r pipeline.Result) {
	h := hourOf(r.Message.CreatedAt)
	b.mu.Lock()
	p := b.pending[s.AccountSID]
	if p == nil {
		p = map[int64]int{}
		b.pending[s.AccountSID] = p
	}
	p[h]++
	b.mu.Unlock()
}

// Start shares counts with the other nodes every Sync until Stop.
func (b *Budget) Start(ctx context.Context) {
	b.SyncNow(ctx)
	b.loop = &periodic.Loop{Every: b.cfg.Sync, Run: func(ctx context.Context) error { b.SyncNow(ctx); return nil }}
	b.loop.Start(ctx)
}

// Stop stops sharing, after a last flush of this node's counts. Safe to
// call twice, or without Start.
func (b *Budget) Stop() {
	b.once.Do(func() {
		if b.loop != nil {
			b.loop.Stop()
			b.SyncNow(context.Background())
		}
	})
}

// SyncNow adds this node's counts to the store's and reads back every
// node's totals of the last day.
func (b *Budget) SyncNow(ctx context.Context) {
	if b.cfg.Store == nil {
		return
	}
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.mu.Lock()
	flushing := b.pending
	b.pending = map[string]map[int64]int{}
	b.mu.Unlock()
	var counts []guardstate.Count
	for account, hours := range flushing {
		for h, n := range hours {
			counts = append(counts, guardstate.Count{AccountSID: account, Key: budgetKey, Minute: h, Sends: n})
		}
	}
	if len(counts) > 0 {
		if err := b.cfg.Store.AddGuardCounts(ctx, counts); err != nil {
			b.fail("sharing counts", err)
			b.mu.Lock()
			for account, hours := range flushing { // kept for the next try
				p := b.pending[account]
				if p == nil {
					b.pending[account] = hours
					continue
				}
				for h, n := range hours {
					p[h] += n
				}
			}
			b.mu.Unlock()
			return
		}
	}
	totals, err := b.cfg.Store.GuardKeyTotals(ctx, budgetKey, since(b.cfg.Clock.Now()))
	if err != nil {
		// What was flushed is shared, and counted in the next totals; until
		// then this node keeps counting it itself.
		b.fail("reading totals", err)
		b.mu.Lock()
		for account, hours := range flushing {
			for _, n := range hours {
				b.shared[account] += n
			}
		}
		b.mu.Unlock()
		return
	}
	shared := make(map[string]int, len(totals))
	for _, t := range totals {
		shared[t.AccountSID] = t.Sends
	}
	b.mu.Lock()
	b.shared = shared
	clear(b.counts)
	if b.failing {
		b.failing = false
		b.cfg.Logger.Info("daily budgets: their shared counts are reachable again")
	}
	b.mu.Unlock()
}

func (b *Budget) fail(what string, err error) {
	b.mu.Lock()
	b.failing = true
	warn := b.cfg.Clock.Now().Sub(b.lastErr) >= time.Minute
	if warn {
		b.lastErr = b.cfg.Clock.Now()
	}
	b.mu.Unlock()
	if warn {
		b.cfg.Logger.Warn("daily budgets: their shared counts cannot be reached; each node judges on what it knows (failing open)", "while", what, "err", err)
	}
}
