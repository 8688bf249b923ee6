package webhook

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// limits decides whether a claimed callback may be POSTed now, so that one
// slow or failing receiver, or one account with many callbacks, cannot take
// every worker of the Sender: it counts the POSTs in flight to each host and
// for each account against their caps, and keeps a circuit breaker per host.
//
// A circuit opens after breakAfter consecutive failed POSTs to its host (no
// answer, a timeout, or a status other than 2xx); while open, nothing is
// POSTed to the host. When its cool-down has passed it lets one POST through
// (half open): a success closes it, a failure opens it again for twice as
// long, up to maxCoolDown. A success always closes it and resets the count.
//
// Safe for concurrent use.
type limits struct {
	perHost, perAccount   int
	breakAfter            int
	coolDown, maxCoolDown time.Duration

	mu        sync.Mutex
	hosts     map[string]*hostState
	accounts  map[string]int // POSTs in flight
	lastPrune time.Time
}

type hostState struct {
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

func newLimits(perHost, perAccount, breakAfter int, coolDown, maxCoolDown time.Duration) *limits {
	return &limits{
		perHost: perHost, perAccount: perAccount, breakAfter: breakAfter, coolDown: coolDown, maxCoolDown: maxCoolDown,
		hosts: map[string]*hostState{}, accounts: map[string]int{},
	}
}

// hostKey is the host a callback URL's caps and circuit are kept for: its
// host name or IP address, lower case, and port (the scheme's default when
// the URL has none). The port is part of it, so two receivers on one machine
// (on loopback in tests, or two services behind one IP) are told apart.
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

// start counts a POST to host for account as in flight and returns true
// when both are under their caps and the host's circuit lets it through.
// Otherwise it returns false and, when the host's circuit is open, the time
// it half opens.
func (l *limits) start(now time.Time, host, account string) (ok bool, openUntil time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		h = &hostState{}
	}
	switch {
	case now.Before(h.openUntil):
		return false, h.openUntil
	case !h.openUntil.IsZero() && h.inFlight > 0: // half open: one POST decides
		return false, time.Time{}
	case h.inFlight >= l.perHost || l.accounts[account] >= l.perAccount:
		return false, time.Time{}
	}
	h.inFlight++
	l.hosts[host] = h
	l.accounts[account]++
	return true, time.Time{}
}

// finish ends a POST that start let through. It returns the cool-down and
// the count of consecutive failures when the POST's failure just opened the
// host's circuit, else zero.
func (l *limits) finish(now time.Time, host, account string, r result) (opened time.Duration, failures int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.accounts[account]--; l.accounts[account] <= 0 {
		delete(l.accounts, account)
	}
	h := l.hosts[host]
	h.inFlight--
	switch r {
	case succeeded:
		h.failures, h.openUntil, h.coolDown = 0, time.Time{}, 0
	case failed:
		h.failures++
		h.lastFailure = now
		switch {
		case now.Before(h.openUntil): // already open: a POST begun before it opened
		case !h.openUntil.IsZero(): // the half-open trial failed
			h.coolDown = min(2*h.coolDown, l.maxCoolDown)
			h.openUntil = now.Add(h.coolDown)
			return h.coolDown, h.failures
		case h.failures >= l.breakAfter:
			h.coolDown = l.coolDown
			h.openUntil = now.Add(h.coolDown)
			return h.coolDown, h.failures
		}
	}
	if h.inFlight == 0 && h.failures == 0 {
		delete(l.hosts, host)
	}
	return 0, 0
}

// prune forgets, at most once a minute, the hosts with nothing in flight
// whose last failure is older than maxCoolDown and whose circuit is not
// open: their count of consecutive failures starts again from zero.
func (l *limits) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) < time.Minute {
		return
	}
	l.lastPrune = now
	for host, h := range l.hosts {
		if h.inFlight == 0 && !now.Before(h.openUntil) && now.Sub(h.lastFailure) > l.maxCoolDown {
			delete(l.hosts, host)
		}
	}
}
