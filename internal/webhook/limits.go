package webhook

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// limits decides whether a claimed callback may be POSTed now, so that no
// account, with a slow, hanging or failing receiver or just many callbacks,
// delays another account's callbacks. It counts the Sender's POSTs in flight,
// in all, for each account, and for each route (one account's callbacks to
// one host), and keeps a circuit breaker per route.
//
// An account's share of the workers is
//
//	min(perAccount, max(1, concurrency/(active+1)))
//
// where active counts the accounts with POSTs in flight or callbacks held
// ready to start (the Sender says which): it shrinks as accounts arrive, and
// the +1 is a share kept free for the next account that arrives. A POST is
// not stopped to make room, so an account that took a larger share while
// fewer wanted workers keeps it until its POSTs end; to keep the free share
// anyway, an account starts a POST beyond its first only while that leaves
// a share of the workers free. Its first POST starts whenever a worker is
// free: at the defaults (32 workers, 8 an account), accounts whose receivers
// hang, arriving one after another, take 8, 8, 8, 2, then 1 each, so it
// takes ten of them to take every worker (without the share kept free, five
// would: 8, 8, 8, 6, 2).
//
// Routes, not hosts, carry the in-flight cap (perHost) and the circuits: one
// account's hanging receiver, or its failing callbacks, never hold back
// another account's callbacks to the same host (a hosted webhook relay two
// apps both use, say). That host may then have perHost POSTs in flight for
// each account.
//
// A route's circuit opens after breakAfter consecutive failed POSTs (no
// answer, a timeout, or a status other than 2xx); while open, nothing is
// POSTed on the route. When its cool-down has passed it lets one POST
// through (half open): a success closes it, a failure opens it again for
// twice as long, up to maxCoolDown. A success always closes it and resets the
// count. Another account's success at the same host does neither.
//
// Safe for concurrent use.
type limits struct {
	concurrency, perHost, perAccount int
	breakAfter                       int
	coolDown, maxCoolDown            time.Duration

	mu        sync.Mutex
	routes    map[route]*routeState
	accounts  map[string]int // POSTs in flight
	inFlight  int            // POSTs in flight, in all
	lastPrune time.Time
}

// route is what the per-host cap and the circuits are kept for: one
// account's callbacks to one host (hostKey).
type route struct {
	account, host string
}

type routeState struct {
	inFlight    int
	failures    int           // consecutive failed POSTs
	openUntil   time.Time     // zero: closed; after now: open; else half open
	coolDown    time.Duration // of the circuit's last opening
	lastFailure time.Time
}

// result is what a POST came to, for the circuit breaker.
type result int

const (
	notPosted result = iota // nothing was sent (no token to sign with): says nothing of the host
	succeeded
	failed
)

// refusal says why start did not let a POST through.
type refusal int

const (
	started     refusal = iota // not refused
	accountFull                // the account is at its share (or starting would eat the share kept free)
	routeFull                  // the route is at perHost, or its half-open trial is in flight
	circuitOpen                // the route's circuit is open
)

func newLimits(concurrency, perHost, perAccount, breakAfter int, coolDown, maxCoolDown time.Duration) *limits {
	return &limits{
		concurrency: concurrency, perHost: perHost, perAccount: perAccount,
		breakAfter: breakAfter, coolDown: coolDown, maxCoolDown: maxCoolDown,
		routes: map[route]*routeState{}, accounts: map[string]int{},
	}
}

// hostKey is the host part of a callback's route: the URL's host name or IP
// address, lower case, and port (the scheme's default when the URL has
// none). The port is part of it, so two receivers on one machine (on
// loopback in tests, or two services behind one IP) are told apart.
func hostKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactURL(raw) // one key for every such URL, which no POST can reach anyway
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// share returns the most POSTs one account may have in flight while the
// accounts of waiting (those with callbacks held for a worker) and those
// with POSTs in flight want workers.
func (l *limits) share(waiting map[string]bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	active := len(waiting)
	for a := range l.accounts {
		if !waiting[a] {
			active++
		}
	}
	return l.shareOf(active)
}

func (l *limits) shareOf(active int) int {
	return min(l.perAccount, max(1, l.concurrency/(active+1)))
}

// start counts a POST on r as in flight and returns started when r's
// account is under share (and, beyond its first POST, leaves share workers
// free), r is under perHost and r's circuit lets it through. Otherwise it
// returns why not and, when r's circuit is open, the time it half opens.
func (l *limits) start(now time.Time, r route, share int) (refusal, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.routes[r]
	if s == nil {
		s = &routeState{}
	}
	n := l.accounts[r.account]
	switch {
	case now.Before(s.openUntil):
		return circuitOpen, s.openUntil
	case n >= share || n > 0 && l.concurrency-l.inFlight-1 < share:
		return accountFull, time.Time{}
	case !s.openUntil.IsZero() && s.inFlight > 0: // half open: one POST decides
		return routeFull, time.Time{}
	case s.inFlight >= l.perHost:
		return routeFull, time.Time{}
	}
	s.inFlight++
	l.routes[r] = s
	l.accounts[r.account]++
	l.inFlight++
	return started, time.Time{}
}

// openUntil returns when r's circuit half opens, if it is open at now, else
// the zero time.
func (l *limits) openUntil(now time.Time, r route) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.routes[r]; s != nil && now.Before(s.openUntil) {
		return s.openUntil
	}
	return time.Time{}
}

// finish ends a POST that start let through. It returns the cool-down and
// the count of consecutive failures when the POST's failure just opened the
// route's circuit, else zero.
func (l *limits) finish(now time.Time, r route, res result) (opened time.Duration, failures int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.accounts[r.account]--; l.accounts[r.account] <= 0 {
		delete(l.accounts, r.account)
	}
	l.inFlight--
	s := l.routes[r]
	s.inFlight--
	switch res {
	case succeeded:
		s.failures, s.openUntil, s.coolDown = 0, time.Time{}, 0
	case failed:
		s.failures++
		s.lastFailure = now
		switch {
		case now.Before(s.openUntil): // already open: a POST begun before it opened
		case !s.openUntil.IsZero(): // the half-open trial failed
			s.coolDown = min(2*s.coolDown, l.maxCoolDown)
			s.openUntil = now.Add(s.coolDown)
			return s.coolDown, s.failures
		case s.failures >= l.breakAfter:
			s.coolDown = l.coolDown
			s.openUntil = now.Add(s.coolDown)
			return s.coolDown, s.failures
		}
	}
	if s.inFlight == 0 && s.failures == 0 {
		delete(l.routes, r)
	}
	return 0, 0
}

// inFlightOf returns the POSTs account has in flight.
func (l *limits) inFlightOf(account string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accounts[account]
}

// openCircuits counts the routes whose circuit is open at now.
func (l *limits) openCircuits(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.routes {
		if now.Before(s.openUntil) {
			n++
		}
	}
	return n
}

// prune forgets, at most once a minute, the routes with nothing in flight
// whose last failure is older than maxCoolDown and whose circuit is not
// open: their count of consecutive failures starts again from zero.
func (l *limits) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) < time.Minute {
		return
	}
	l.lastPrune = now
	for r, s := range l.routes {
		if s.inFlight == 0 && !now.Before(s.openUntil) && now.Sub(s.lastFailure) > l.maxCoolDown {
			delete(l.routes, r)
		}
	}
}
