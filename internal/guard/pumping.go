package guard

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
)

// CodeBlocked is the error code of a send the pumping guard refused.
const CodeBlocked = 60410

// PumpingStore keeps the guard's state where every node sees it.
type PumpingStore interface {
	// AddGuardCounts adds counts (increments: nodes add concurrently).
	AddGuardCounts(ctx context.Context, counts []guardstate.Count) error
	// GuardTotals sums every key's counts since shortSince (Sends,
	// Approvals) and since baselineSince (BaselineSends), for keys with
	// sends since shortSince.
	GuardTotals(ctx context.Context, shortSince, baselineSince time.Time) ([]guardstate.Total, error)
	// GuardBlocks returns the blocks that ended (or were lifted) after since.
	GuardBlocks(ctx context.Context, since time.Time) ([]guardstate.Block, error)
	// PutGuardBlock stores a block, unless one of the key is still in
	// force, with the callbacks announcing it.
	PutGuardBlock(ctx context.Context, b guardstate.Block, cbs []callback.Callback) error
	// LiftGuardBlock ends a key's block now and forgets its counts;
	// store.ErrNotFound if none is in force.
	LiftGuardBlock(ctx context.Context, accountSID, key string, now time.Time) (guardstate.Block, error)
	// GuardSafeList returns an account's safe numbers.
	GuardSafeList(ctx context.Context, accountSID string) ([]string, error)
	// SetGuardSafe adds entries to an account's safe list and removes
	// others; store.ErrFull, having written nothing, when the list would
	// then hold more than max (max > 0).
	SetGuardSafe(ctx context.Context, accountSID string, add, remove []string, max int) error
	// ForgetGuard deletes prefix counts from before prefixesBefore, all
	// counts from before before, and blocks that ended before before.
	ForgetGuard(ctx context.Context, prefixesBefore, before time.Time) (int, error)
}

// PumpingConfig configures the pumping guard. The zero value of a field is
// its default.
type PumpingConfig struct {
	Store  PumpingStore
	Clock  otpgate.Clock
	Logger *slog.Logger
	// Services, if set, reads the service whose code tipped a block: its
	// events URL is sent the guard.blocked event, stored with the block.
	Services ServiceReader
	// AfterEvent, if set, is called after a block was stored (to wake the
	// webhook sender).
	AfterEvent func()
	// Audit, if set, records each block this node made, once stored.
	Audit *audit.Log

	Window        time.Duration // sends and approvals are compared over it; 10m
	Baseline      time.Duration // an operator's or country's usual rate is measured over it, before Window; 1h
	PrefixSends   int           // a prefix is judged from this many sends in Window; 15
	WideSends     int           // an operator or a country from this many; 300
	Spike         float64       // ... and this many times its usual rate; 3
	MaxConversion float64       // blocked when fewer than this share were approved; 0.2
	FirstBlock    time.Duration // 15m, 4 times longer for each block within a day of the last
	MaxBlock      time.Duration // 24h
	Sync          time.Duration // how often a node shares its counts and reads the others'; 2s
}

func (c *PumpingConfig) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Window, 10*time.Minute)
	def(&c.Baseline, time.Hour)
	def(&c.FirstBlock, 15*time.Minute)
	def(&c.MaxBlock, 24*time.Hour)
	def(&c.Sync, 2*time.Second)
	if c.PrefixSends == 0 {
		c.PrefixSends = 15
	}
	if c.WideSends == 0 {
		c.WideSends = 300
	}
	if c.Spike == 0 {
		c.Spike = 3
	}
	if c.MaxConversion == 0 {
		c.MaxConversion = 0.2
	}
	if c.Clock == nil {
		c.Clock = otpgate.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Pumping is the SMS-pumping guard. Per account it watches, for each
// prefix (a number less its last 4 digits), operator and country, the SMS
// sent there (a new verification's first code; a message, unless the
// operator marked its account transactional) and how many codes were
// approved; a prefix with many sends and few approvals, or an operator or
// country whose sends spike with few approvals, is blocked for a while,
// longer each time. It is a policy of the send pipeline (refusing every
// SMS, code or message, to what is blocked: 403/60410) and sees every SMS
// sent (Sent) and code approved (Approved). Only the operator lifts a
// block; an account may only put exact numbers on its safe list. Counts are kept in memory
// and shared with the other nodes through the store every Sync; blocks are
// stored and read back the same way. If the store cannot be reached, the
// guard goes on with what it knows (fails open) and says so in the log.
type Pumping struct {
	cfg PumpingConfig

	mu          sync.Mutex
	shared      map[gkey]guardstate.Total // all nodes' counts at the last sync
	pending     map[gkey]*pendingCount    // this node's counts since
	blocks      map[gkey]guardstate.Block // the latest block of each key
	safe        map[string]cachedSafe
	failing     bool
	lastWarn    time.Time
	lastSync    time.Time
	forgotAt    time.Time
	unstored    []unstored // blocks to store again at the next sync
	loop        *periodic.Loop
	writes      sync.WaitGroup
	stopOnce    sync.Once
	syncMu      sync.Mutex
	liftSeen    map[gkey]time.Time
	lastService map[gkey]string // the service of the key's last code sent here (for events)
	metrics     *pumpingMetrics // nil until Register
}

type pendingCount struct {
	minutes     map[int64]*[2]int // minute -> sends, approvals
	sends, appr int
}

type cachedSafe struct {
	entries []string
	until   time.Time
}

// NewPumping returns the guard; Start it to share state with other nodes.
func NewPumping(cfg PumpingConfig) *Pumping {
	cfg.defaults()
	return &Pumping{
		cfg: cfg, shared: map[gkey]guardstate.Total{}, pending: map[gkey]*pendingCount{},
		blocks: map[gkey]guardstate.Block{}, safe: map[string]cachedSafe{}, liftSeen: map[gkey]time.Time{},
		lastService: map[gkey]string{},
	}
}

// gkey is a key the guard watches, of one account: a prefix, an operator
// or a country. Its fields are the number's own strings (no allocation on
// the send path); String is its stored form.
type gkey struct {
	account string
	kind    byte   // 'p' prefix, 'd' email domain, 'o' operator, 'c' country
	a, b    string // prefix: the prefix; domain: the domain; operator: region, name; country: region
}

func (k gkey) String() string {
	switch k.kind {
	case 'p':
		return "prefix:" + k.a
	case 'd':
		return "domain:" + k.a
	case 'o':
		return "operator:" + k.a + ":" + k.b
	}
	return "country:" + k.a
}

// wide is true of an operator, a country or an email domain (which an
// email's codes are watched under where an SMS's are under its prefix); a
// prefix is narrow. A domain is judged as wide: one domain (gmail.com) is
// the inbox of many users, so a few made-up addresses under it must not
// block it for everyone, only a spike far over its usual rate.
func (k gkey) wide() bool { return k.kind != 'p' }

// parseKey reads a key's stored form ("prefix:+96279031",
// "operator:JO:Zain", "country:JO").
func parseKey(account, s string) (gkey, bool) {
	kind, v, _ := strings.Cut(s, ":")
	switch kind {
	case "prefix":
		return gkey{account: account, kind: 'p', a: v}, v != ""
	case "domain":
		return gkey{account: account, kind: 'd', a: v}, v != ""
	case "operator":
		region, name, ok := strings.Cut(v, ":")
		return gkey{account: account, kind: 'o', a: region, b: name}, ok
	case "country":
		return gkey{account: account, kind: 'c', a: v}, v != ""
	}
	return gkey{}, false
}

// keysOf returns the keys an account's destination is watched under: a
// number's prefix, operator and country, or an email address's domain.
func keysOf(account string, n phone.Number, address string) (keys [3]gkey, count int) {
	if address != "" {
		if d := emailaddr.Domain(address); d != "" {
			keys[count] = gkey{account: account, kind: 'd', a: d}
			count++
		}
		return keys, count
	}
	if len(n.E164) > 5 {
		keys[count] = gkey{account: account, kind: 'p', a: n.E164[:len(n.E164)-4]}
		count++
	}
	if n.Operator != "" {
		keys[count] = gkey{account: account, kind: 'o', a: n.Region, b: n.Operator}
		count++
	}
	if n.Region != "" {
		keys[count] = gkey{account: account, kind: 'c', a: n.Region}
		count++
	}
	return keys, count
}

// Allow refuses an SMS to a number under a key in force of a block.
func (p *Pumping) Allow(ctx context.Context, s pipeline.Send) error {
	if p.safeListed(ctx, s.AccountSID, s.Dest()) {
		return nil
	}
	now := p.cfg.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	ks, c := keysOf(s.AccountSID, s.To, s.Address)
	for _, k := range ks[:c] {
		b, ok := p.blocks[k]
		if !ok || b.Lifted || !now.Before(b.Until) {
			continue
		}
		if p.metrics != nil {
			p.metrics.refusals.WithLabelValues(scopeOf(k.String())).Inc()
		}
		what := "Messages"
		if s.Code {
			what = "Codes"
		}
		return otpgate.Errorf(otpgate.KindForbidden, CodeBlocked,
			"%s to %s are blocked by the SMS-pumping guard until %s: %s. Numbers of your own users in that range are blocked too; put a number you know on the account's safe list (POST /v2/SafeList/Numbers), or ask the operator of this otpgate to lift the block (otpgate guard lift --account %s --key %s)",
			what, describeKey(k.String()), b.Until.UTC().Format(time.RFC3339), b.Reason, s.AccountSID, k.String())
	}
	return nil
}

func describeKey(k string) string {
	kind, v, _ := strings.Cut(k, ":")
	switch kind {
	case "prefix":
		return "numbers starting " + v
	case "domain":
		return "email addresses at " + v
	case "operator":
		return "operator " + v
	}
	return "country " + v
}

// Sent counts a new verification's first code, or a message, and blocks
// what it tipped over. Another code of the same verification (a resend) is
// not counted: users who ask again while codes do not arrive (an
// operator's outage) are not pumping, and pumping needs many numbers (one
// number's SMS are limited per number). A message counts as a send that
// is never approved, unless its account is transactional: a message has no
// code to approve, and a leaked token pumps through the messages API as
// well as through codes.
func (p *Pumping) Sent(ctx context.Context, s pipeline.Send, r pipeline.Result) {
	if s.Code && r.Verification != nil && !r.Verification.New {
		return
	}
	if !s.Code && s.Ceilings.Transactional {
		return
	}
	if p.safeListed(ctx, s.AccountSID, s.Dest()) {
		return
	}
	p.count(ctx, s.AccountSID, s.To, s.Address, 0, s.Service)
}

// Approved counts a code that was approved: to a number, or to an email
// address (to is then zero).
func (p *Pumping) Approved(ctx context.Context, accountSID string, to phone.Number, address string) {
	p.count(ctx, accountSID, to, address, 1, "")
}

func (p *Pumping) count(ctx context.Context, account string, to phone.Number, address string, which int, service string) {
	now := p.cfg.Clock.Now()
	minute := now.Unix() / 60
	var blocks []guardstate.Block
	p.mu.Lock()
	ks, c := keysOf(account, to, address)
	for _, i := range ks[:c] {
		if service != "" {
			p.lastService[i] = service
		}
		pc := p.pending[i]
		if pc == nil {
			pc = &pendingCount{minutes: map[int64]*[2]int{}}
			p.pending[i] = pc
		}
		m := pc.minutes[minute]
		if m == nil {
			m = new([2]int)
			pc.minutes[minute] = m
		}
		m[which]++
		if which == 0 {
			pc.sends++
		} else {
			pc.appr++
		}
		if which == 0 {
			if b, ok := p.judge(i, now); ok {
				blocks = append(blocks, b)
			}
		}
	}
	p.mu.Unlock()
	for _, b := range blocks {
		p.announce(ctx, b, service)
	}
}

// judge decides, with p.mu held, whether a key must be blocked now; if so
// it records the block (in force at once on this node) and returns it.
func (p *Pumping) judge(i gkey, now time.Time) (guardstate.Block, bool) {
	prev, hasPrev := p.blocks[i]
	if hasPrev && !prev.Lifted && now.Before(prev.Until) {
		return guardstate.Block{}, false // in force already
	}
	t := p.shared[i]
	sends, appr := t.Sends, t.Approvals
	if pc := p.pending[i]; pc != nil {
		sends, appr = sends+pc.sends, appr+pc.appr
	}
	if sends < p.threshold(i) || float64(appr) >= p.cfg.MaxConversion*float64(sends) {
		return guardstate.Block{}, false
	}
	what := "SMS"
	if i.kind == 'd' {
		what = "emails"
	}
	reason := fmt.Sprintf("%d %s were sent there in the last %s and %d codes were approved (%.1f%%), under the %.0f%% the guard expects",
		sends, what, policy.ShortDuration(p.cfg.Window), appr, math.Floor(1000*float64(appr)/float64(sends))/10, 100*p.cfg.MaxConversion)
	if i.wide() {
		// An operator or a country: only a spike over its usual rate.
		// Its usual rate is measured over the Baseline before the window,
		// and over at least half of it: with less history nothing is known
		// to spike over.
		history := now.Add(-p.cfg.Window).Sub(time.Unix(t.Oldest*60, 0))
		if t.Sends == 0 || history < p.cfg.Baseline/2 { // no shared counts yet, or too few
			return guardstate.Block{}, false
		}
		usual := float64(t.BaselineSends-t.Sends) * float64(p.cfg.Window) / float64(history)
		if float64(sends) < p.cfg.Spike*usual {
			return guardstate.Block{}, false
		}
		reason += fmt.Sprintf(", %.1f times its usual %.0f per %s", float64(sends)/max(usual, 1), usual, policy.ShortDuration(p.cfg.Window))
	}
	level := 1
	if hasPrev && now.Sub(prev.Until) < 24*time.Hour {
		level = prev.Level + 1
	}
	d := p.cfg.FirstBlock
	for range level - 1 {
		d = min(d*4, p.cfg.MaxBlock)
	}
	b := guardstate.Block{AccountSID: i.account, Key: i.String(), Level: level, Since: now, Until: now.Add(d),
		Sends: sends, Approvals: appr, Window: p.cfg.Window, Reason: reason}
	p.blocks[i] = b
	return b, true
}

func (p *Pumping) threshold(k gkey) int {
	if k.wide() {
		return p.cfg.WideSends
	}
	return p.cfg.PrefixSends
}

// announce logs a block and stores it (with its event), off the request's
// path.
func (p *Pumping) announce(ctx context.Context, b guardstate.Block, service string) {
	p.mu.Lock()
	m := p.metrics
	p.mu.Unlock()
	if m != nil {
		m.blocks.WithLabelValues(scopeOf(b.Key)).Inc()
	}
	p.cfg.Logger.Warn("SMS-pumping guard: blocked", "account_sid", b.AccountSID, "key", b.Key, "until", b.Until.UTC().Format(time.RFC3339),
		"level", b.Level, "sends", b.Sends, "approvals", b.Approvals, "window", b.Window)
	if p.cfg.Store == nil {
		return
	}
	p.writes.Add(1)
	go func() {
		defer p.writes.Done()
		ctx := context.WithoutCancel(ctx)
		p.put(ctx, unstored{b, p.blockedEvents(ctx, b, service)})
	}()
}

// unstored is a block this node could not store yet, with its event.
type unstored struct {
	b   guardstate.Block
	cbs []callback.Callback
}

// put stores a block and its event, or keeps it to try again at the next
// sync.
func (p *Pumping) put(ctx context.Context, u unstored) {
	if err := p.cfg.Store.PutGuardBlock(ctx, u.b, u.cbs); err != nil {
		p.failOpen("storing a block", err)
		p.mu.Lock()
		p.unstored = append(p.unstored, u)
		p.mu.Unlock()
		return
	}
	if p.cfg.Audit != nil {
		p.cfg.Audit.Record(ctx, audit.Guard, audit.Entry{AccountSID: u.b.AccountSID, Kind: audit.KindBlock, Action: "block",
			Target: u.b.Key, After: BlockView(u.b)})
	}
	if len(u.cbs) > 0 && p.cfg.AfterEvent != nil {
		p.cfg.AfterEvent()
	}
}

func (p *Pumping) failOpen(what string, err error) {
	p.mu.Lock()
	p.failing = true
	warn := p.cfg.Clock.Now().Sub(p.lastWarn) >= time.Minute
	if warn {
		p.lastWarn = p.cfg.Clock.Now()
	}
	p.mu.Unlock()
	if warn {
		p.cfg.Logger.Warn("SMS-pumping guard: its shared state cannot be reached; it goes on with what this node knows (failing open)", "while", what, "err", err)
	}
}

// safeListed reports whether the account put the number on its safe list
// (read again every 5 s; fails open). Only whole numbers count: an entry
// that is a prefix (kept from before safe lists took numbers only) matches
// nothing.
func (p *Pumping) safeListed(ctx context.Context, account, e164 string) bool {
	if p.cfg.Store == nil {
		return false
	}
	now := p.cfg.Clock.Now()
	p.mu.Lock()
	c, ok := p.safe[account]
	p.mu.Unlock()
	if !ok || !now.Before(c.until) {
		// Read for every request to come, not this one: its hang-up must
		// not count as the store failing.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		entries, err := p.cfg.Store.GuardSafeList(rctx, account)
		cancel()
		if err != nil {
			p.failOpen("reading the safe list", err)
			entries = c.entries
		}
		c = cachedSafe{entries: entries, until: now.Add(5 * time.Second)}
		p.mu.Lock()
		p.safe[account] = c
		p.mu.Unlock()
	}
	return slices.Contains(c.entries, e164)
}

// Blocks returns an account's blocks in force, newest first: every node's,
// as stored, and this node's not yet stored.
func (p *Pumping) Blocks(ctx context.Context, accountSID string) ([]guardstate.Block, error) {
	now := p.cfg.Clock.Now()
	byKey := map[string]guardstate.Block{}
	if p.cfg.Store != nil {
		stored, err := p.cfg.Store.GuardBlocks(ctx, now)
		if err != nil {
			return nil, err
		}
		for _, b := range stored {
			if b.AccountSID == accountSID {
				byKey[b.Key] = b
			}
		}
	}
	p.mu.Lock()
	for _, b := range p.blocks {
		if cur, ok := byKey[b.Key]; b.AccountSID == accountSID && (!ok || b.Since.After(cur.Since)) {
			byKey[b.Key] = b
		}
	}
	p.mu.Unlock()
	var out []guardstate.Block
	for _, b := range byKey {
		if !b.Lifted && now.Before(b.Until) {
			out = append(out, b)
		}
	}
	sortBlocks(out)
	return out, nil
}

// SafeList returns an account's safe numbers.
func (p *Pumping) SafeList(ctx context.Context, accountSID string) ([]string, error) {
	return p.cfg.Store.GuardSafeList(ctx, accountSID)
}

// SetSafe adds numbers (E.164) to an account's safe list and removes
// others, keeping it at most max long (store.ErrFull); this node applies it
// at once, others within 5 s.
func (p *Pumping) SetSafe(ctx context.Context, accountSID string, add, remove []string, max int) error {
	if err := p.cfg.Store.SetGuardSafe(ctx, accountSID, add, remove, max); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.safe, accountSID)
	p.mu.Unlock()
	return nil
}

// Failing reports whether the guard's shared state could not be reached
// at its last try (it then fails open).
func (p *Pumping) Failing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failing
}

// Lift ends a block now (all nodes see it at their next sync) and forgets
// the key's counts, so it is judged afresh.
func (p *Pumping) Lift(ctx context.Context, accountSID, key string) (guardstate.Block, error) {
	// Not while a sync shares this node's counts: it could write back,
	// after the lift forgot them, the counts that made the block.
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	now := p.cfg.Clock.Now()
	b, err := p.cfg.Store.LiftGuardBlock(ctx, accountSID, key, now)
	if err != nil {
		return guardstate.Block{}, err
	}
	i, _ := parseKey(accountSID, key)
	p.mu.Lock()
	p.blocks[i] = b
	delete(p.pending, i)
	delete(p.shared, i)
	p.liftSeen[i] = now
	p.mu.Unlock()
	p.cfg.Logger.Info("SMS-pumping guard: block lifted", "account_sid", accountSID, "key", key)
	return b, nil
}

// Start shares counts and blocks with the other nodes every Sync until Stop.
func (p *Pumping) Start(ctx context.Context) {
	p.SyncNow(ctx)
	p.loop = &periodic.Loop{Every: p.cfg.Sync, Run: func(ctx context.Context) error { p.SyncNow(ctx); return nil }}
	p.loop.Start(ctx)
}

// Stop stops sharing, after a last flush of this node's counts.
func (p *Pumping) Stop() {
	p.stopOnce.Do(func() {
		if p.loop != nil {
			p.loop.Stop()
			p.SyncNow(context.Background())
		}
		p.writes.Wait()
	})
}

// SyncNow adds this node's counts to the store's, reads back every node's,
// reads the blocks, and judges the keys others' counts tipped over.
func (p *Pumping) SyncNow(ctx context.Context) {
	if p.cfg.Store == nil {
		return
	}
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	now := p.cfg.Clock.Now()
	p.mu.Lock()
	flushing := p.pending
	p.pending = map[gkey]*pendingCount{}
	p.mu.Unlock()
	var counts []guardstate.Count
	for k, pc := range flushing {
		key := k.String()
		for m, c := range pc.minutes {
			counts = append(counts, guardstate.Count{AccountSID: k.account, Key: key, Minute: m, Sends: c[0], Approvals: c[1]})
		}
	}
	if len(counts) > 0 {
		if err := p.cfg.Store.AddGuardCounts(ctx, counts); err != nil {
			p.failOpen("sharing counts", err)
			p.mu.Lock()
			for i, pc := range flushing { // keep them for the next try
				if cur := p.pending[i]; cur != nil {
					for m, c := range cur.minutes {
						if pm := pc.minutes[m]; pm != nil {
							pm[0], pm[1] = pm[0]+c[0], pm[1]+c[1]
						} else {
							pc.minutes[m] = c
						}
					}
					pc.sends, pc.appr = pc.sends+cur.sends, pc.appr+cur.appr
				}
				p.pending[i] = pc
			}
			p.mu.Unlock()
			return
		}
	}
	totals, err := p.cfg.Store.GuardTotals(ctx, now.Add(-p.cfg.Window), now.Add(-p.cfg.Window-p.cfg.Baseline))
	if err != nil {
		p.failOpen("reading counts", err)
		return
	}
	blocks, err := p.cfg.Store.GuardBlocks(ctx, now.Add(-24*time.Hour))
	if err != nil {
		p.failOpen("reading blocks", err)
		return
	}
	p.mu.Lock()
	retry := p.unstored
	p.unstored = nil
	p.mu.Unlock()
	for _, u := range retry {
		if now.Before(u.b.Until) {
			p.put(ctx, u)
		}
	}
	var tipped []guardstate.Block
	p.mu.Lock()
	if p.failing {
		p.failing = false
		p.cfg.Logger.Info("SMS-pumping guard: its shared state is reachable again")
	}
	p.shared = make(map[gkey]guardstate.Total, len(totals))
	for _, t := range totals {
		if k, ok := parseKey(t.AccountSID, t.Key); ok {
			p.shared[k] = t
		}
	}
	for _, b := range blocks {
		i, ok := parseKey(b.AccountSID, b.Key)
		if !ok {
			continue
		}
		if cur, ok := p.blocks[i]; ok && cur.Since.After(b.Since) && !b.Lifted {
			continue // this node's newer block, still being stored
		}
		if b.Lifted {
			if _, seen := p.liftSeen[i]; !seen || p.liftSeen[i].Before(b.Until) {
				p.liftSeen[i] = b.Until
				delete(p.pending, i)
				delete(p.shared, i)
			}
		}
		p.blocks[i] = b
	}
	for k := range p.shared {
		if b, ok := p.judge(k, now); ok {
			tipped = append(tipped, b)
		}
	}
	for i, seen := range p.liftSeen {
		if now.Sub(seen) > 24*time.Hour {
			delete(p.liftSeen, i)
		}
	}
	p.lastSync = now
	forget := now.Sub(p.forgotAt) >= time.Minute
	if forget {
		p.forgotAt = now
		for i, b := range p.blocks {
			if now.Sub(b.Until) > 24*time.Hour {
				delete(p.blocks, i)
			}
		}
		for i := range p.lastService {
			if _, ok := p.shared[i]; !ok {
				delete(p.lastService, i)
			}
		}
	}
	p.mu.Unlock()
	if forget {
		// Counts are kept 25 hours: the daily budget (Budget) shares its
		// hours in the same table, and counts up to 25 of them.
		if _, err := p.cfg.Store.ForgetGuard(ctx, now.Add(-p.cfg.Window-time.Minute), now.Add(-max(p.cfg.Window+p.cfg.Baseline, 25*time.Hour)-time.Minute)); err != nil {
			p.failOpen("forgetting old counts", err)
		}
	}
	services := make([]string, len(tipped))
	p.mu.Lock()
	for j, b := range tipped {
		k, _ := parseKey(b.AccountSID, b.Key)
		services[j] = p.lastService[k]
	}
	p.mu.Unlock()
	for j, b := range tipped {
		p.announce(ctx, b, services[j])
	}
}

// sortBlocks orders blocks newest first.
func sortBlocks(bs []guardstate.Block) {
	slices.SortStableFunc(bs, func(a, b guardstate.Block) int { return b.Since.Compare(a.Since) })
}
