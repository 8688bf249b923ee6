package webhook

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/otpgate"
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
	// AccountTokenSealed returns the account's sealed auth token (nil if none was kept).
	AccountTokenSealed(ctx context.Context, sid string) ([]byte, error)
}

// Opener decrypts an account's sealed auth token.
type Opener interface {
	Open(id string, sealed []byte) ([]byte, error)
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	Store       Store
	Tokens      Opener
	Policy      Policy
	Clock       otpgate.Clock
	Logger      *slog.Logger
	Timeout     time.Duration // per POST; default 10 s
	Lease       time.Duration // default 1 min
	MaxAge      time.Duration // give up after; default 25 h
	Concurrency int           // POSTs in flight; default 32
	Poll        time.Duration // default 1 s
	FirstRetry  time.Duration // wait before the first retry, doubling to 1 h; default 5 s
}

// Sender delivers callbacks in the background: every callback stored with
// the change that caused it (package callback) is POSTed, signed as Twilio
// signs (X-Twilio-Signature, keyed by the account's auth token) so existing
// request validators accept it, in order per subject, retried with backoff
// for at least 24 hours; every attempt's result is kept.
type Sender struct {
	cfg    SenderConfig
	client *http.Client
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
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
	if cfg.Lease == 0 {
		cfg.Lease = time.Minute
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 25 * time.Hour
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 32
	}
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.FirstRetry == 0 {
		cfg.FirstRetry = 5 * time.Second
	}
	cfg.Poll = min(cfg.Poll, cfg.FirstRetry) // a retry is not kept waiting longer than its backoff
	return &Sender{cfg: cfg, client: cfg.Policy.Client(cfg.Timeout), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Wake tells the sender callbacks may be due. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start runs the sender until Stop.
func (s *Sender) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go s.run(ctx)
}

// Stop stops claiming and waits for POSTs in flight. Safe to call twice.
func (s *Sender) Stop() {
	s.once.Do(func() {
		if s.cancel == nil {
			close(s.done)
			return
		}
		s.cancel()
		<-s.done
	})
}

func (s *Sender) run(ctx context.Context) {
	defer close(s.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, s.cfg.Concurrency)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		// A message's next callback cannot be claimed while the one before
		// it is pending (claimed or waiting to be retried): order holds
		// without waiting for a whole round.
		now := s.cfg.Clock.Now().UTC()
		free := cap(sem) - len(sem)
		var cbs []callback.Callback
		if free > 0 {
			var err error
			cbs, err = s.cfg.Store.ClaimCallbacks(ctx, now, now.Add(s.cfg.Lease), free)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Error("claiming callbacks failed", "err", err)
			}
		}
		for _, c := range cbs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done(); s.Wake() }()
				s.deliver(c)
			}()
		}
		if len(cbs) > 0 && len(cbs) == free {
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

// deliver POSTs one callback and records the attempt.
func (s *Sender) deliver(c callback.Callback) {
	ctx := context.Background()
	attempt := callback.Attempt{CallbackSID: c.SID, Attempt: c.Attempts + 1, Subject: c.Subject, URL: c.URL, At: s.cfg.Clock.Now().UTC()}
	status, err := s.post(ctx, c)
	attempt.Duration = s.cfg.Clock.Now().Sub(attempt.At)
	attempt.StatusCode = status
	if err != nil {
		attempt.Error = err.Error()
	}
	ok := err == nil && status >= 200 && status < 300
	now := s.cfg.Clock.Now().UTC()
	giveUp := !ok && now.Sub(c.CreatedAt) >= s.cfg.MaxAge
	if ok || giveUp {
		err = s.cfg.Store.FinishCallback(ctx, c, attempt)
	} else {
		err = s.cfg.Store.RetryCallback(ctx, c, attempt, now.Add(callback.Backoff(s.cfg.FirstRetry, attempt.Attempt)))
	}
	log := s.cfg.Logger.With("subject", c.Subject, "callback_sid", c.SID, "attempt", attempt.Attempt)
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
}

func (s *Sender) post(ctx context.Context, c callback.Callback) (int, error) {
	sealed, err := s.cfg.Store.AccountTokenSealed(ctx, c.AccountSID)
	if err != nil || len(sealed) == 0 {
		return 0, fmt.Errorf("no auth token kept for account %s to sign with", c.AccountSID)
	}
	token, err := s.cfg.Tokens.Open(account.TokenAAD(c.AccountSID), sealed)
	if err != nil {
		return 0, err
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
			return 0, err
		}
		signature = Sign(string(token), c.URL, params)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(c.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "otpgate-callbacks/1")
	req.Header.Set(SignatureHeader, signature)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST to %s: %v", hostOf(c.URL), err)
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s answered %s", hostOf(c.URL), res.Status)
	}
	return res.StatusCode, nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "the callback URL"
}
