package dispatch

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
)

// DefaultMaxBacklog is how long a route's backlog may take to drain before
// Admit refuses new sends: a code that waits longer is a failed sign-in.
const DefaultMaxBacklog = 5 * time.Second

const (
	// unmeasuredAllowance is how many messages a route may have waiting
	// before its sending rate is known (it has not had work for
	// measuredAfter windows yet: a node just started, its first sends
	// still on their way, must not read its warm-up as its rate).
	unmeasuredAllowance = 1000
	// minAllowance is how many messages may always wait, whatever the rate
	// (a bind coming back up, a short stall).
	minAllowance = 100
	// measureEvery is how often the rates are measured; a rate is what was
	// drained over the last rateWindows measures in which the route had
	// work (2 s: a stall of a few hundred milliseconds does not make a
	// route refuse), known once it had work in measuredAfter of them.
	measureEvery  = 250 * time.Millisecond
	rateWindows   = 8
	measuredAfter = 4
	// refusalLogEvery is how often, at most, Admit logs that a route
	// refuses sends.
	refusalLogEvery = 10 * time.Second
)

// backlog counts, per route, the messages this dispatcher has taken and not
// yet handed to a connector for good (sent, or failed), and how fast the
// route drains them.
type backlog struct {
	max    time.Duration
	mu     sync.Mutex
	routes map[string]*routeLoad
}

type routeLoad struct {
	tps     int
	waiting map[string]waiting // by message SID
	drained int                // finished since the last measure
	windows [rateWindows]window
	busy    int       // windows with work so far
	rate    float64   // messages per second over the last windows with work
	warned  time.Time // when Admit last logged a refusal
}

// window is one measure of a route while it had work.
type window struct {
	drained int
	secs    float64
}

// measured reports whether the route's rate is known.
func (l *routeLoad) measured() bool { return l.busy >= measuredAfter }

// waiting is a message counted in a route's backlog.
type waiting struct {
	at time.Time // when it was first taken
	// releasedUntil, when set, says the message went back to the outbox (a
	// retry, no bind up, a full hand-off): it still counts until then, and
	// stops counting after unless this dispatcher claims it again. Another
	// node may claim and finish it, and this one would never hear of it.
	releasedUntil time.Time
}

func newBacklog(max time.Duration) *backlog {
	return &backlog{max: max, routes: map[string]*routeLoad{}}
}

func (b *backlog) load(r Route) *routeLoad {
	l := b.routes[r.Key]
	if l == nil {
		l = &routeLoad{waiting: map[string]waiting{}}
		b.routes[r.Key] = l
	}
	l.tps = r.TPS
	return l
}

// add counts a message taken for delivery (again, after a retry: once).
func (b *backlog) add(r Route, sid string, at time.Time) {
	b.mu.Lock()
	l := b.load(r)
	if w, ok := l.waiting[sid]; ok {
		at = w.at
	}
	l.waiting[sid] = waiting{at: at}
	b.mu.Unlock()
}

// release notes that a message went back to the outbox, for any node to
// claim: it counts until until, then no longer unless claimed here again.
func (b *backlog) release(r Route, sid string, until time.Time) {
	b.mu.Lock()
	l := b.load(r)
	if w, ok := l.waiting[sid]; ok {
		w.releasedUntil = until
		l.waiting[sid] = w
	}
	b.mu.Unlock()
}

// done counts a message handed to a connector for good, or failed.
func (b *backlog) done(r Route, sid string) {
	b.mu.Lock()
	l := b.load(r)
	if _, ok := l.waiting[sid]; ok {
		delete(l.waiting, sid)
		l.drained++
	}
	b.mu.Unlock()
}

// measurer updates each route's rate every measureEvery, from its Start
// until its Stop: from what the route drained while it had work, so an
// idle route keeps the rate it last sent at. A released message's time is
// the dispatcher's clock's, as its release was.
func (b *backlog) measurer(clock otpgate.Clock) *periodic.Loop {
	last := time.Now()
	return &periodic.Loop{Every: measureEvery, Run: func(context.Context) error {
		now := time.Now()
		b.measure(now.Sub(last).Seconds(), clock.Now())
		last = now
		return nil
	}}
}

// measure ends one window of secs seconds at now.
func (b *backlog) measure(secs float64, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.routes {
		if l.drained == 0 && len(l.waiting) == 0 {
			continue
		}
		l.windows[l.busy%rateWindows] = window{drained: l.drained, secs: secs}
		l.busy++
		var drained int
		var total float64
		for _, w := range l.windows[:min(l.busy, rateWindows)] {
			drained += w.drained
			total += w.secs
		}
		l.rate = float64(drained) / total
		l.drained = 0
		for sid, w := range l.waiting {
			if !w.releasedUntil.IsZero() && now.After(w.releasedUntil) {
				delete(l.waiting, sid) // another node took it, or it was deleted
			}
		}
	}
}

// BacklogStats is what one route has waiting.
type BacklogStats struct {
	Route   string
	Waiting int
	Oldest  time.Duration // age of the oldest message waiting
	Rate    float64       // messages per second the route last drained at
}

// Backlog returns every route's backlog at now.
func (d *Dispatcher) Backlog(now time.Time) []BacklogStats {
	b := d.backlog
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []BacklogStats
	for key, l := range b.routes {
		s := BacklogStats{Route: key, Waiting: len(l.waiting)}
		if l.measured() {
			s.Rate = l.rate
		}
		for _, w := range l.waiting {
			s.Oldest = max(s.Oldest, now.Sub(w.at))
		}
		out = append(out, s)
	}
	return out
}

// Admit refuses a send to a destination whose route has more waiting than it
// can send within MaxBacklog (at its TPS limit, or at the rate it was last
// measured sending), with a KindTooMany error that says when to try again.
// Messages already accepted are not affected: they are sent.
func (d *Dispatcher) Admit(to string) error {
	if d.cfg.MaxBacklog < 0 {
		return nil
	}
	r := d.cfg.Route(to)
	b := d.backlog
	b.mu.Lock()
	l := b.load(r)
	waiting, rate, measured := len(l.waiting), l.rate, l.measured()
	b.mu.Unlock()
	if r.TPS > 0 && (!measured || float64(r.TPS) < rate) {
		rate, measured = float64(r.TPS), true
	}
	allowed := unmeasuredAllowance
	if measured {
		allowed = max(minAllowance, int(rate*d.cfg.MaxBacklog.Seconds()))
	}
	if waiting < allowed {
		return nil
	}
	label := "the connectors"
	if r.Key != "" {
		label = "route " + r.Key
	}
	retry := d.cfg.MaxBacklog
	drain := "an unknown time: nothing was sent on it lately"
	if !measured {
		drain = "an unknown time: it has not sent for long enough to know its rate"
	}
	if measured && rate > 0 {
		need := time.Duration(float64(waiting) / rate * float64(time.Second))
		retry = max(time.Second, need-d.cfg.MaxBacklog)
		drain = fmt.Sprintf("about %s at the %s/s it sends", need.Round(100*time.Millisecond), formatRate(rate))
	}
	secs := int(math.Ceil(retry.Seconds()))
	now := time.Now()
	b.mu.Lock()
	warn := now.Sub(l.warned) >= refusalLogEvery
	if warn {
		l.warned = now
	}
	b.mu.Unlock()
	if warn {
		d.cfg.Logger.Warn("refusing new sends: too many messages are waiting", "route", r.Key, "waiting", waiting,
			"rate", formatRate(rate), "max_backlog", d.cfg.MaxBacklog)
	}
	return &otpgate.Error{Kind: otpgate.KindTooMany, Code: otpgate.CodeTooManyRequests, RetryAfter: time.Duration(secs) * time.Second,
		Message: fmt.Sprintf("Too many messages are waiting for %s: %d would take %s, more than the %s a message may wait before it is sent; try again in %d s",
			label, waiting, drain, d.cfg.MaxBacklog, secs)}
}

func formatRate(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}
