package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
)

// Store keeps the callbacks waiting to be POSTed.
type Store interface {
	// ClaimCallbacks leases up to limit due callbacks, each the oldest
	// pending one of its subject (callbacks of a subject go in order).
	ClaimCallbacks(ctx context.Context, now, leaseUntil time.Time, limit int) ([]callback.Callback, error)
	// FinishCallback records an attempt and removes the callback (delivered,
	// or given up).
	FinishCallback(ctx context.Context, c callback.Callback, a callback.Attempt) error
	// RetryCallback records an attempt and makes the callback due again at next.
	RetryCallback(ctx context.Context, c callback.Callback, a callback.Attempt, next time.Time) error
	// ReleaseCallbacks gives claimed callbacks back, without an attempt;
	// one whose lease has ended is left as it is.
	ReleaseCallbacks(ctx context.Context, rs []callback.Release) error
	// CallbackBacklog counts the callbacks waiting (due, retrying or
	// claimed) and says when the oldest was made (zero when none waits).
	CallbackBacklog(ctx context.Context) (int, time.Time, error)
	// AccountTokenSealed returns the account's sealed auth token (nil if none was kept).
	AccountTokenSealed(ctx context.Context, sid string) ([]byte, error)
}

// Opener decrypts an account's sealed auth token.
type Opener interface {
	Open(id string, sealed []byte) ([]byte, error)
}

// SenderConfig configures a Sender. A zero field takes its default.
//
// No account delays another account's callbacks, whatever its receivers do
// (hang, fail, or just have many callbacks owed):
//   - The workers are shared fairly. An account has at most its share of
//     them in flight, min(PerAccount, max(1, Concurrency/(active+1))), where
//     active counts the accounts with callbacks in flight or held ready to
//     start. The +1 is a share kept free for an account that arrives: beyond
//     its first, an account starts a POST only while that leaves a share
//     free, since a POST, once started, is not stopped to make room. A
//     worker that frees goes to the account with the fewest POSTs in flight,
//     then to the one that waited longest since its last.
//   - PerHost and the circuit breaker are kept per account and host: another
//     account's hanging receiver or failing callbacks at the same host (a
//     webhook relay both use, say) count for that account only.
//
// A callback that cannot start (its account at its share, its account at
// PerHost at its host, or that circuit open) is not given a worker; the
// Sender holds it, without POSTing it, until its turn comes, or lets it go
// back to the Store when its circuit half opens (or, for the others it lets
// go, a little later), to be claimed again by whichever node is free. Either
// way no attempt is made or recorded for it, and it keeps its MaxAge. Beyond
// MaxHeld, the account holding the most gives back its last claimed. A host
// is the callback URL's host and port (the scheme's default port when it has
// none), so two receivers on one machine are two hosts.
//
// What this does not do: the Store hands out due callbacks oldest first,
// whatever their account, and the Sender claims no more than its free
// workers can take. An account's callbacks behind another's backlog in the
// Store are reached as that backlog is claimed and held (quickly while a
// share is free), not before; and once every worker is taken (at the
// defaults, ten accounts whose receivers hang, arriving one after another,
// take them all), an account that arrives waits for a POST to end, within
// Timeout.
type SenderConfig struct {
	Store       Store
	Tokens      Opener
	Policy      Policy
	Clock       otpgate.Clock
	Logger      *slog.Logger
	Timeout     time.Duration // per POST, connecting included; default 10 s
	DialTimeout time.Duration // to connect (TCP), within Timeout; default 3 s
	Lease       time.Duration // default 1 min
	MaxAge      time.Duration // give up after; default 25 h
	Concurrency int           // POSTs in flight, in all; default 32
	PerHost     int           // POSTs in flight for one account to one host (host:port); default 4
	PerAccount  int           // POSTs in flight for one account, at most (its share may be less); default 8
	MaxHeld     int           // claimed callbacks held, without a worker, for their account's share or their route; default 32 × Concurrency
	Poll        time.Duration // default 1 s
	FirstRetry  time.Duration // wait before the first retry, doubling to 1 h; default 5 s

	// BreakAfter consecutive failed POSTs of one account to one host (no
	// answer, a timeout, or a status other than 2xx) open that route's
	// circuit: nothing of that account is POSTed to that host for CoolDown,
	// then one POST is let through; if it fails, the circuit opens again for
	// twice as long, up to MaxCoolDown. A success of that account at that
	// host closes it; other accounts' callbacks to the host go on meanwhile.
	// Defaults: 5, 30 s, 5 min.
	BreakAfter  int
	CoolDown    time.Duration
	MaxCoolDown time.Duration
}

// Sender delivers callbacks in the background: every callback stored with
// the change that caused it (package callback) is POSTed, signed as Twilio
// signs (X-Twilio-Signature, keyed by the account's auth token) so existing
// request validators accept it, in order per subject, retried with backoff
// for at least 24 hours, fairly between accounts (see SenderConfig); every
// attempt's result is kept. Callback URLs are logged and kept with their
// attempts as scheme, host and path only: a query string may carry the
// receiver's secret.
type Sender struct {
	cfg    SenderConfig
	client *http.Client
	limits *limits
	wake   periodic.Signal
	letGo  []callback.Release // claimed callbacks dispatch let go; the run loop gives them back
	// lastStart is the turn at which each account with callbacks held or in
	// flight last had a POST started (turn counts them); only the run loop
	// uses them.
	lastStart map[string]uint64
	turn      uint64
	// metrics, when registered; inFlight and held are read at scrapes.
	metrics        *metrics
	inFlight, held atomic.Int64
	runner         periodic.Runner
}

// NewSender returns a Sender.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Lease == 0 {
		cfg.Lease = time.Minute
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 25 * time.Hour
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = 4
	}
	if cfg.PerAccount <= 0 {
		cfg.PerAccount = 8
	}
	if cfg.MaxHeld <= 0 {
		cfg.MaxHeld = 32 * cfg.Concurrency
	}
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.FirstRetry == 0 {
		cfg.FirstRetry = 5 * time.Second
	}
	if cfg.BreakAfter <= 0 {
		cfg.BreakAfter = 5
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = 30 * time.Second
	}
	if cfg.MaxCoolDown <= 0 {
		cfg.MaxCoolDown = 5 * time.Minute
	}
	cfg.MaxCoolDown = max(cfg.MaxCoolDown, cfg.CoolDown)
	cfg.Poll = min(cfg.Poll, cfg.FirstRetry) // a retry is not kept waiting longer than its backoff
	return &Sender{
		cfg: cfg, client: cfg.Policy.client(cfg.Timeout, cfg.DialTimeout),
		limits:    newLimits(cfg.Concurrency, cfg.PerHost, cfg.PerAccount, cfg.BreakAfter, cfg.CoolDown, cfg.MaxCoolDown),
		wake:      periodic.NewSignal(),
		lastStart: map[string]uint64{},
	}
}

// Wake tells the sender callbacks may be due. It never blocks.
func (s *Sender) Wake() { s.wake.Wake() }

// Start runs the sender until Stop.
func (s *Sender) Start(ctx context.Context) { s.runner.Start(context.WithoutCancel(ctx), s.run) }

// Stop stops claiming and waits for POSTs in flight. Safe to call twice.
func (s *Sender) Stop() { s.runner.Stop() }

// held is a claimed callback waiting for a worker, for its account to be
// under its share, for its route to be under its cap, or for its route's
// circuit to half open.
type held struct {
	c       callback.Callback
	route   route     // its account and hostKey(c.URL)
	startBy time.Time // later, its lease could end before its POST is recorded
}

func (s *Sender) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, s.cfg.Concurrency)
	var waiting []held // in the order claimed
	defer func() {
		// Stopping: what is held goes back now, for another node or the
		// next start, rather than when its lease ends.
		now := s.cfg.Clock.Now().UTC()
		for _, h := range waiting {
			s.let(h, "the sender is stopping", now)
		}
		s.held.Store(0)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for try := 0; try < 3 && len(s.letGo) > 0 && ctx.Err() == nil; try++ {
			s.giveBack(ctx) // with what an earlier round could not give back
		}
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		// A message's next callback cannot be claimed while the one before
		// it is pending (claimed, held or waiting to be retried): order holds
		// without waiting for a whole round.
		now := s.cfg.Clock.Now().UTC()
		s.limits.prune(now)
		// Claim no more than the free workers can take, and before they are
		// given to what is held, so that an account with nothing held (its
		// callbacks behind others' in the Store) has its turn at them too.
		// What they cannot take is held, up to MaxHeld.
		limit := cap(sem) - len(sem)
		var cbs []callback.Callback
		if limit > 0 {
			var err error
			leaseUntil := now.Add(s.cfg.Lease)
			cbs, err = s.cfg.Store.ClaimCallbacks(ctx, now, leaseUntil, limit)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Error("claiming callbacks failed", "err", err)
			}
			// A POST and its record take up to Timeout and then some: one
			// more Timeout is left for the record.
			startBy := leaseUntil.Add(-2 * s.cfg.Timeout)
			if startBy.Before(now) {
				startBy = now
			}
			for _, c := range cbs {
				waiting = append(waiting, held{c: c, route: route{c.AccountSID, hostKey(c.URL)}, startBy: startBy})
			}
		}
		waiting = s.dispatch(now, waiting, sem, &wg)
		s.giveBack(ctx)
		if len(cbs) > 0 && len(cbs) == limit {
			continue
		}
		t.Reset(s.cfg.Poll)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// dispatch starts the callbacks of waiting that a free worker, their
// account's share and their route can take now, and returns the rest, to be
// held, in the order claimed. A free worker goes to the account with the
// fewest POSTs in flight (of those, the one whose last POST started longest
// ago, an account new to the Sender first), and then to its first claimed
// callback that its route lets through: one account's backlog, however long
// and early, does not keep another's callbacks waiting. dispatch lets go of
// those that can no longer start before their leases could end, of those
// whose route's circuit stays open longer than that, and, beyond MaxHeld, of
// the last claimed of the account holding the most.
func (s *Sender) dispatch(now time.Time, waiting []held, sem chan struct{}, wg *sync.WaitGroup) []held {
	kept := waiting[:0]
	var ready []bool // kept[i]'s circuit is not open: it could start now
	for _, h := range waiting {
		if now.After(h.startBy) {
			s.let(h, "it could not start before its lease could end", now)
			continue
		}
		until := s.limits.openUntil(now, h.route)
		if until.After(h.startBy) {
			s.let(h, "its circuit (its account at its host) is open", until)
			continue
		}
		kept = append(kept, h)
		ready = append(ready, until.IsZero())
	}
	if len(sem) < cap(sem) {
		kept = s.startFairly(now, kept, ready, sem, wg)
	}
	if len(kept) > s.cfg.MaxHeld {
		perAccount := map[string]int{}
		for _, h := range kept {
			perAccount[h.route.account]++
		}
		for len(kept) > s.cfg.MaxHeld {
			var most string
			for a, n := range perAccount {
				if n > perAccount[most] || n == perAccount[most] && a < most {
					most = a
				}
			}
			for i := len(kept) - 1; i >= 0; i-- {
				if kept[i].route.account == most {
					s.let(kept[i], "too many callbacks are held, most of them for its account", now.Add(s.cfg.FirstRetry))
					kept = slices.Delete(kept, i, i+1)
					perAccount[most]--
					break
				}
			}
		}
	}
	clear(waiting[len(kept):]) // no callback bodies kept alive by the backing array
	s.held.Store(int64(len(kept)))
	return kept
}

// startFairly starts what it can of the ready callbacks of waiting while
// workers are free, account by account, fewest POSTs in flight first, and
// returns the rest in order. An account whose held callbacks all wait for
// their circuits does not count against the others' shares.
func (s *Sender) startFairly(now time.Time, waiting []held, ready []bool, sem chan struct{}, wg *sync.WaitGroup) []held {
	// Each account's ready callbacks, in the order claimed; the accounts in
	// the order of their first claimed.
	var order []string
	queue := map[string][]int{}
	wanting := map[string]bool{}
	for i, h := range waiting {
		if !ready[i] {
			continue
		}
		a := h.route.account
		if !wanting[a] {
			order = append(order, a)
			wanting[a] = true
		}
		queue[a] = append(queue[a], i)
	}
	if len(order) == 0 {
		return waiting
	}
	share := s.limits.share(wanting)
	done := make([]bool, len(waiting))
	for len(sem) < cap(sem) && len(order) > 0 {
		next, fewest := 0, -1
		for i, a := range order {
			n := s.limits.inFlightOf(a)
			if fewest < 0 || n < fewest || n == fewest && s.lastStart[a] < s.lastStart[order[next]] {
				next, fewest = i, n
			}
		}
		a, ok := order[next], false
		for j, i := range queue[a] {
			h := waiting[i]
			why, _ := s.limits.start(now, h.route, share)
			if why == accountFull {
				break
			}
			if why != started {
				continue // its route's turn has not come: maybe another host's
			}
			done[i], ok = true, true
			queue[a] = slices.Delete(queue[a], j, j+1)
			s.turn++
			s.lastStart[a] = s.turn
			sem <- struct{}{}
			wg.Add(1)
			s.inFlight.Add(1)
			go func() {
				defer func() { <-sem; s.inFlight.Add(-1); wg.Done(); s.Wake() }()
				s.deliver(h.c, h.route)
			}()
			break
		}
		if !ok || len(queue[a]) == 0 {
			order = slices.Delete(order, next, next+1) // nothing more of it starts in this round
		}
	}
	kept := waiting[:0]
	for i, h := range waiting {
		if !done[i] {
			kept = append(kept, h)
		}
	}
	// An account with nothing held or in flight is new again when it comes
	// back: it goes first among those with as few in flight.
	for a := range s.lastStart {
		if !wanting[a] && s.limits.inFlightOf(a) == 0 {
			delete(s.lastStart, a)
		}
	}
	return kept
}

// let forgets a held callback, to be given back to the Store, due again at
// due, by giveBack.
func (s *Sender) let(h held, why string, due time.Time) {
	s.cfg.Logger.Debug("callback not sent now; it is given back without an attempt",
		"subject", h.c.Subject, "callback_sid", h.c.SID, "account_sid", h.route.account, "host", h.route.host, "why", why, "due", due)
	s.letGo = append(s.letGo, callback.Release{SID: h.c.SID, LeaseUntil: h.c.NextAttemptAt, Due: due})
}

// giveBack gives the callbacks let go back to the Store. If that fails
// they stay leased until their leases end, and are claimed again then.
func (s *Sender) giveBack(ctx context.Context) {
	if len(s.letGo) == 0 {
		return
	}
	if err := s.cfg.Store.ReleaseCallbacks(ctx, s.letGo); err != nil {
		// Kept, to try again: next round, or with a fresh context when the
		// sender stops. Their leases end in any case.
		s.cfg.Logger.Warn("giving claimed callbacks back failed; tried again, and they are claimed again when their leases end anyway",
			"callbacks", len(s.letGo), "err", err)
		if n := len(s.letGo) - s.cfg.MaxHeld; n > 0 {
			s.letGo = append(s.letGo[:0], s.letGo[n:]...) // the oldest: their leases are the nearest to ending
		}
		return
	}
	s.letGo = s.letGo[:0]
}

// deliver POSTs one callback, which limits.start let through on r, and
// records the attempt.
func (s *Sender) deliver(c callback.Callback, r route) {
	ctx := context.Background()
	attempt := callback.Attempt{CallbackSID: c.SID, Attempt: c.Attempts + 1, Subject: c.Subject, URL: redactURL(c.URL), At: s.cfg.Clock.Now().UTC()}
	status, posted, err := s.post(ctx, c)
	attempt.Duration = s.cfg.Clock.Now().Sub(attempt.At)
	attempt.StatusCode = status
	if err != nil {
		attempt.Error = err.Error()
	}
	ok := err == nil && status >= 200 && status < 300
	now := s.cfg.Clock.Now().UTC()
	res := notPosted
	if posted {
		res = failed
		if ok {
			res = succeeded
		}
	}
	coolDown, failures := s.limits.finish(now, r, res)
	giveUp := !ok && now.Sub(c.CreatedAt) >= s.cfg.MaxAge
	if ok || giveUp {
		err = s.cfg.Store.FinishCallback(ctx, c, attempt)
	} else {
		err = s.cfg.Store.RetryCallback(ctx, c, attempt, now.Add(callback.Backoff(s.cfg.FirstRetry, attempt.Attempt)))
	}
	if m := s.metrics; m != nil && posted {
		switch {
		case ok:
			m.attempts.WithLabelValues("delivered").Inc()
		case giveUp:
			m.attempts.WithLabelValues("gave_up").Inc()
		default:
			m.attempts.WithLabelValues("failed").Inc()
		}
		if coolDown > 0 {
			m.opens.Inc()
		}
	}
	log := s.cfg.Logger.With("account_sid", c.AccountSID, "subject", c.Subject, "callback_sid", c.SID, "attempt", attempt.Attempt, "url", attempt.URL)
	switch {
	case err != nil:
		log.Error("recording a callback attempt failed; it is tried again when its lease ends", "err", err)
	case ok:
		log.Debug("status callback delivered", "status", status)
	case giveUp:
		log.Warn("status callback given up", "status", status, "err", attempt.Error)
	default:
		log.Info("status callback failed; will retry", "status", status, "err", attempt.Error, "retry_in", callback.Backoff(s.cfg.FirstRetry, attempt.Attempt))
	}
	if coolDown > 0 {
		s.cfg.Logger.Warn("an account's callbacks to a host paused: their circuit is open (other accounts' callbacks to the host go on)",
			"account_sid", c.AccountSID, "host", r.host, "consecutive_failures", failures, "for", coolDown)
	}
}

// post POSTs c to its URL, query string included. posted is false when
// nothing was sent (the account has no token to sign with). An error's text
// never holds the URL's query string, fragment or user info.
func (s *Sender) post(ctx context.Context, c callback.Callback) (status int, posted bool, err error) {
	sealed, err := s.cfg.Store.AccountTokenSealed(ctx, c.AccountSID)
	if err != nil || len(sealed) == 0 {
		return 0, false, fmt.Errorf("no auth token kept for account %s to sign with", c.AccountSID)
	}
	token, err := s.cfg.Tokens.Open(account.TokenAAD(c.AccountSID), sealed)
	if err != nil {
		return 0, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	target, contentType, signature := c.URL, "application/x-www-form-urlencoded", ""
	if c.ContentType == callback.JSON {
		// Twilio's scheme for JSON bodies: the URL carries bodySHA256.
		target, signature = SignJSON(string(token), c.URL, []byte(c.Body))
		contentType = "application/json"
	} else {
		params, err := url.ParseQuery(c.Body)
		if err != nil {
			return 0, false, err
		}
		signature = Sign(string(token), c.URL, params)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(c.Body))
	if err != nil {
		return 0, false, errors.New(redactError(err, c.URL, target))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "otpgate-callbacks/1")
	req.Header.Set(SignatureHeader, signature)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, true, errors.New(redactError(err, c.URL, target))
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode >= 300 {
		return res.StatusCode, true, fmt.Errorf("%s answered %s", redactURL(c.URL), res.Status)
	}
	return res.StatusCode, true, nil
}
