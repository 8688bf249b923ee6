// Package dispatch moves messages from the outbox to connectors: it takes
// each committed message straight from the send pipeline (and claims, with a
// lease, what is due in the outbox: retries, and what a crashed process left),
// sends it, and records the outcome: sent, retried later with backoff
// (transient failure), or failed (permanent failure, or the message expired
// or gave up). It applies delivery receipts. It keeps, per route, the backlog
// of messages waiting for a connector, and refuses new sends when that
// backlog would take too long to drain (Admit).
//
// Delivery is at least once: a crash after a connector took a message but
// before the outcome was committed sends that message again once its lease
// runs out (on restart, at once).
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/dlr"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/latency"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/store"
)

// Store keeps the outbox and what delivery learns.
type Store interface {
	// ClaimOutbox takes up to limit messages due at now, oldest due first,
	// and leases them until leaseUntil: no other claim returns them before
	// then unless they are rescheduled. A crashed claimer's messages come
	// back once the lease runs out.
	ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]message.Outbound, error)
	// NextDue returns when the earliest unclaimed message is due, or
	// store.ErrNotFound.
	NextDue(ctx context.Context) (time.Time, error)
	// RescheduleOutbox releases a message's lease and makes it due at next,
	// with its attempts so far and the last error.
	RescheduleOutbox(ctx context.Context, sid string, attempts int, next time.Time, lastError string) error
	// RecordOutcome takes a message out of the outbox and records o: the
	// status (if the message may move to it: message.Before), connector,
	// parts (applying receipts that came for them first) and error, with the
	// status callback. store.ErrNotFound when the message is no longer in
	// the outbox (deleted or canceled meanwhile).
	RecordOutcome(ctx context.Context, o message.Outcome) error
	// ApplyReceipt records a receipt on its message (by SID), or on the part
	// one of its keys names and then on the message as its parts decide
	// (message.FromParts), with the status callback; it reports whether a
	// callback was stored. A receipt for a part not known yet is kept until
	// RecordOutcome names the part.
	ApplyReceipt(ctx context.Context, r message.Receipt) (callbacks bool, err error)
}

// Opener opens sealed bodies (keyring.Keys).
type Opener interface {
	Open(id string, sealed []byte) ([]byte, error)
}

// Healthy is implemented by connectors that can tell whether they can send
// now (an SMPP connector with no bind up cannot).
type Healthy interface{ Healthy() bool }

// Route is where messages to a destination go: a key naming the route (its
// backlog is counted under it) and its connectors, in order of preference.
type Route struct {
	Key        string // EmailRoute for the route of emails
	Connectors []sms.Connector
	// TPS is the most the route's connectors take per second together; 0
	// when they have no limit (the rate is then measured).
	TPS int
}

// EmailRoute is the key of the route that carries emails: an email on any
// other route (a server restarted without its relay while emails waited) is
// failed, never handed to an SMS connector.
const EmailRoute = "email"

// carries reports whether r carries messages of channel c: the email route
// emails, every other route SMS.
func (r Route) carries(c message.Channel) bool {
	return (c.Or() == message.Email) == (r.Key == EmailRoute)
}

// Config configures a Dispatcher.
type Config struct {
	Store       Store
	Opener      Opener
	Connectors  []sms.Connector       // the one route when Route is nil, in order of preference
	Route       func(to string) Route // the route of a destination
	Clock       otpgate.Clock
	Logger      *slog.Logger
	Lease       time.Duration // how long a claim holds; default 2m
	SendTimeout time.Duration // per Send; default 30s
	Batch       int           // messages per claim; default 256
	Concurrency int           // sends in flight; default 512
	Poll        time.Duration // longest sleep between claims; default 1s
	MaxAge      time.Duration // give up on a message this old; default 24h
	// MaxBacklog is the longest a route's backlog may take to drain, at the
	// rate the route sends, before Admit refuses new sends; default 5s,
	// negative: never refuse.
	MaxBacklog  time.Duration
	AfterStatus func() // called after a status change is committed (to wake the webhook sender)
}

// Backoff is the wait before retry number attempt (1-based): 1s, 2s, 4s, ...
// up to 5 minutes. It is a pure function so tests can pin it.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 9 {
		return 5 * time.Minute
	}
	return min(time.Second<<(attempt-1), 5*time.Minute)
}

// Dispatcher sends outbox messages. Start it once; Stop is safe to call twice.
type Dispatcher struct {
	cfg      Config
	wake     periodic.Signal
	handoff  chan handed
	sem      chan struct{}
	runner   periodic.Runner
	inflight sync.WaitGroup
	// running is true from Start to Stop: Take starts a delivery itself
	// then, when a slot is free (no hand-off to another goroutine).
	mu      sync.RWMutex
	running bool
	stopped bool // Stop was called: a later Start starts nothing
	backlog *backlog
	metrics *metrics // nil until Register
}

// New returns a Dispatcher.
func New(cfg Config) *Dispatcher {
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Lease == 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	if cfg.Batch == 0 {
		cfg.Batch = 256
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 512
	}
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	if cfg.MaxBacklog == 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
	if cfg.Route == nil {
		conns := cfg.Connectors
		cfg.Route = func(string) Route { return Route{Connectors: conns} }
	}
	return &Dispatcher{
		cfg:     cfg,
		wake:    periodic.NewSignal(),
		handoff: make(chan handed, 1024),
		sem:     make(chan struct{}, cfg.Concurrency),
		backlog: newBacklog(cfg.MaxBacklog),
	}
}

// Lease marks a message, before it is stored, as held by this dispatcher
// for one lease: pollers (this one after a restart, or any other) leave it
// alone until then. Take must follow once the message is committed.
func (d *Dispatcher) Lease(o *message.Outbound) {
	o.LeaseUntil = o.CreatedAt.Add(d.cfg.Lease)
}

// Inline returns the outcome of delivering o, whose body is body, in the
// write that stores it (message.Outbound.Delivered): when the first
// connector of its route keeps an inbox in the store (sms.Inbox, the
// sandbox), as deliver would; false otherwise, and o goes through the
// outbox. See pipeline.Inliner.
func (d *Dispatcher) Inline(o message.Outbound, body string) (message.Outcome, bool) {
	route := d.cfg.Route(o.To)
	if len(route.Connectors) == 0 || !route.carries(o.Channel) {
		return message.Outcome{}, false
	}
	c := route.Connectors[0]
	ib, ok := c.(sms.Inbox)
	if !ok {
		return message.Outcome{}, false
	}
	if h, ok := c.(Healthy); ok && !h.Healthy() {
		return message.Outcome{}, false
	}
	e := ib.Entry(smsMessage(o, body), o.CreatedAt)
	return message.Outcome{SID: o.SID, Status: message.Delivered, Connector: c.Name(), At: o.CreatedAt, Inbox: &e}, true
}

// Inlined counts and logs o, which Inline delivered and the store stored,
// as deliver does a message a connector took.
func (d *Dispatcher) Inlined(o message.Outbound) {
	route := d.cfg.Route(o.To)
	if o.Delivered != nil {
		msgLog{l: d.cfg.Logger, sid: o.SID, to: o.To, channel: o.Channel.Or(), connector: o.Delivered.Connector}.
			Debug("message delivered in the write that stored it")
	}
	if d.metrics == nil {
		return
	}
	d.metrics.outcome(route.Key, o.Channel.Or(), "sent")
	d.metrics.handoff.WithLabelValues(routeLabel(route.Key)).Observe(d.cfg.Clock.Now().Sub(o.CreatedAt).Seconds())
}

// Take starts delivering a committed message that Lease marked. It never
// blocks, nor yields (the store's writer may call it, between a commit and
// its fsync: store.WhenWritten): when too many are waiting it gives the
// message back to the outbox (due at once) for the poller to take.
func (d *Dispatcher) Take(ctx context.Context, o message.Outbound) {
	route := d.cfg.Route(o.To)
	d.backlog.add(route, o.SID, o.CreatedAt)
	span := latency.From(ctx)
	d.mu.RLock()
	if d.running {
		select {
		case d.sem <- struct{}{}:
			d.launch(o, span)
			d.mu.RUnlock()
			return
		default:
		}
	}
	d.mu.RUnlock()
	select {
	case d.handoff <- handed{o, span}:
	default:
		go func() {
			now := d.cfg.Clock.Now().UTC()
			if err := d.cfg.Store.RescheduleOutbox(context.Background(), o.SID, o.Attempts, now, ""); err != nil {
				d.cfg.Logger.Error("handing a message back to the outbox failed; it goes when its lease ends", "message_sid", o.SID, "err", err)
				return
			}
			d.backlog.release(route, o.SID, d.releasedUntil(now))
			d.Wake()
		}()
	}
}

// handed is a message Take was given, with its request's latency.Span.
type handed struct {
	o    message.Outbound
	span *latency.Span
}

// Wake tells the dispatcher messages are due. It never blocks.
func (d *Dispatcher) Wake() { d.wake.Wake() }

// Start runs the dispatcher until Stop.
func (d *Dispatcher) Start(ctx context.Context) {
	d.mu.Lock()
	d.running = !d.stopped
	d.mu.Unlock()
	d.runner.Start(context.WithoutCancel(ctx), d.run)
}

// Stop stops claiming, waits for sends in flight and records their outcomes.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	d.running, d.stopped = false, true // no Take starts a delivery from now on
	d.mu.Unlock()
	d.runner.Stop()
}

func (d *Dispatcher) run(ctx context.Context) {
	defer d.inflight.Wait()
	handoffsDone := make(chan struct{})
	defer func() { <-handoffsDone }() // before inflight.Wait: no Add after it
	go func() {
		defer close(handoffsDone)
		d.takeHandoffs(ctx)
	}()
	rates := d.backlog.measurer(d.cfg.Clock)
	rates.Start(ctx)
	defer rates.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := d.cfg.Clock.Now()
		items, err := d.cfg.Store.ClaimOutbox(ctx, now, now.Add(d.cfg.Lease), d.cfg.Batch)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("outbox claim failed", "err", err)
		}
		for _, o := range items {
			d.backlog.add(d.cfg.Route(o.To), o.SID, o.CreatedAt)
			if !d.start(ctx, o, nil) {
				return // the rest stay claimed; their lease runs out and they come back
			}
		}
		if len(items) == d.cfg.Batch {
			continue
		}
		wait := d.cfg.Poll
		if next, err := d.cfg.Store.NextDue(ctx); err == nil {
			wait = min(wait, max(time.Millisecond, next.Sub(d.cfg.Clock.Now())))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// start delivers o on a goroutine of its own, once a slot is free; false
// when the dispatcher stops first.
func (d *Dispatcher) start(ctx context.Context, o message.Outbound, span *latency.Span) bool {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	d.launch(o, span)
	return true
}

// launch delivers o on a goroutine of its own, in the slot of d.sem its
// caller took.
func (d *Dispatcher) launch(o message.Outbound, span *latency.Span) {
	d.inflight.Add(1)
	go func() {
		defer func() { <-d.sem; d.inflight.Done() }()
		d.deliver(o, span)
	}()
}

// takeHandoffs delivers the messages Take was given. Messages still waiting
// when the dispatcher stops keep their lease; the next start releases it.
func (d *Dispatcher) takeHandoffs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-d.handoff:
			if !d.start(ctx, h.o, h.span) {
				return
			}
		}
	}
}

// deliver sends one message and records the outcome. It runs to completion
// even while the dispatcher stops, so an outcome is not lost for a send that
// happened. span, when the message came from Take, follows its stages.
func (d *Dispatcher) deliver(o message.Outbound, span *latency.Span) {
	span.Mark(latency.Handoff)
	ctx := context.Background()
	log := msgLog{l: d.cfg.Logger, sid: o.SID, to: o.To, channel: o.Channel.Or()}
	route := d.cfg.Route(o.To)
	now := d.cfg.Clock.Now()
	if !o.ExpiresAt.IsZero() && !now.Before(o.ExpiresAt) {
		d.finish(ctx, log, route, o, nil, "", nil, sms.Permanent(0, errors.New("the message expired before it could be sent")))
		return
	}
	if !route.carries(o.Channel) {
		d.finish(ctx, log, route, o, nil, "", nil, sms.Permanent(0, fmt.Errorf("no route carries an %s here (an email needs a server started with --smtp, or the sandbox)", o.Channel.Or())))
		return
	}
	body, err := d.cfg.Opener.Open(o.SID, o.Payload)
	if err != nil {
		d.finish(ctx, log, route, o, nil, "", nil, sms.Permanent(0, err))
		return
	}
	msg := smsMessage(o, string(body))
	// The route's connectors in order: the first that is up sends; one that
	// fails transiently hands over to the next.
	var lastErr error
	var last sms.Connector
	for _, c := range route.Connectors {
		if h, ok := c.(Healthy); ok && !h.Healthy() {
			continue
		}
		if ib, ok := c.(sms.Inbox); ok {
			// The delivery is the inbox's entry: kept with the outcome.
			e := ib.Entry(msg, d.cfg.Clock.Now().UTC())
			span.Mark(latency.SubmitResp)
			d.finish(ctx, log, route, o, c, "", &e, nil)
			return
		}
		sctx, cancel := context.WithTimeout(latency.With(ctx, span), d.cfg.SendTimeout)
		pid, err := c.Send(sctx, msg)
		cancel()
		if err == nil {
			span.Mark(latency.SubmitResp) // a connector that did not mark it
			d.finish(ctx, log, route, o, c, pid, nil, nil)
			return
		}
		if _, perm := sms.IsPermanent(err); perm {
			d.finish(ctx, log, route, o, c, "", nil, err)
			return
		}
		log.Info("connector failed; trying the next of the route", "connector", c.Name(), "err", err)
		lastErr, last = err, c
	}
	if lastErr == nil {
		// No connector of the route is up: wait for one without using up an attempt.
		d.park(ctx, log, route, o)
		return
	}
	d.finish(ctx, log, route, o, last, "", nil, lastErr)
}

// smsMessage is o as a connector takes it, with its real body.
func smsMessage(o message.Outbound, body string) sms.Message {
	return sms.Message{SID: o.SID, AccountSID: o.AccountSID, From: o.From, To: o.To, Body: body,
		Channel: o.Channel.Or(), Subject: o.Subject}
}

// park puts a message back for a second later without counting an attempt:
// no connector of its route was up. It fails only when it expires.
func (d *Dispatcher) park(ctx context.Context, log msgLog, route Route, o message.Outbound) {
	next := d.cfg.Clock.Now().UTC().Add(time.Second)
	err := d.persist(func() error {
		return d.cfg.Store.RescheduleOutbox(ctx, o.SID, o.Attempts, next, "no connector of the route is bound")
	})
	if err != nil {
		log.Error("rescheduling failed; the message will be retried when its lease ends", "err", err)
		next = d.cfg.Clock.Now().UTC().Add(d.cfg.Lease)
	}
	d.backlog.release(route, o.SID, d.releasedUntil(next))
	d.metrics.outcome(route.Key, log.channel, "parked")
}

// releasedUntil is how long a message this dispatcher gave back to the
// outbox, due at due, keeps counting in its backlog: until its own poller
// would have claimed it again. If it has not by then, another node has.
func (d *Dispatcher) releasedUntil(due time.Time) time.Time {
	return due.Add(d.cfg.Poll + measureEvery)
}

// finish records what the send of o through c ended in: sendErr, or sent
// with the provider's ids pid, or kept in inbox (sms.Inbox), which is
// written with the outcome.
func (d *Dispatcher) finish(ctx context.Context, log msgLog, route Route, o message.Outbound, c sms.Connector, pid string, inbox *message.SandboxEntry, sendErr error) {
	now := d.cfg.Clock.Now().UTC()
	attempts := o.Attempts + 1
	perm, isPerm := sms.IsPermanent(sendErr)
	giveUp := sendErr != nil && !isPerm && (now.Sub(o.CreatedAt) >= d.cfg.MaxAge ||
		(!o.ExpiresAt.IsZero() && !now.Add(Backoff(attempts)).Before(o.ExpiresAt)))
	out := message.Outcome{SID: o.SID, At: now}
	if c != nil {
		out.Connector = c.Name()
		log.connector = out.Connector
	}
	var err error
	switch {
	case sendErr != nil && !isPerm && !giveUp:
		next := d.cfg.Clock.Now().UTC().Add(Backoff(attempts))
		err = d.persist(func() error {
			return d.cfg.Store.RescheduleOutbox(ctx, o.SID, attempts, next, sendErr.Error())
		})
		if err != nil {
			next = d.cfg.Clock.Now().UTC().Add(d.cfg.Lease)
		}
		d.backlog.release(route, o.SID, d.releasedUntil(next))
		d.metrics.outcome(route.Key, log.channel, "retry")
	case sendErr != nil:
		d.metrics.outcome(route.Key, log.channel, "failed")
		out.Status, out.ErrorMessage = message.Failed, sendErr.Error()
		if isPerm {
			out.ErrorCode = perm.Code
		}
		err = d.persist(func() error { return d.cfg.Store.RecordOutcome(ctx, out) })
	default:
		d.metrics.outcome(route.Key, log.channel, "sent")
		if d.metrics != nil {
			d.metrics.handoff.WithLabelValues(routeLabel(route.Key)).Observe(now.Sub(o.CreatedAt).Seconds())
		}
		out.Status, out.Inbox = message.Sent, inbox
		if dos, ok := c.(sms.DeliveredOnSend); ok && dos.DeliveredOnSend() {
			out.Status = message.Delivered
		} else if pid != "" {
			out.ProviderID, out.PartKeys = pid, partKeys(pid)
		}
		err = d.persist(func() error { return d.cfg.Store.RecordOutcome(ctx, out) })
	}
	if sendErr == nil || isPerm || giveUp {
		d.backlog.done(route, o.SID)
	}
	if err == nil && out.Status != "" && o.StatusCallback != "" && d.cfg.AfterStatus != nil {
		d.cfg.AfterStatus()
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("the message was deleted while it was being sent; its outcome is not recorded", "err", sendErr)
	case err != nil:
		log.Error("recording send outcome failed; the message will be retried when its lease ends", "err", err)
	case sendErr == nil:
		log.Debug("message sent", "provider_id", pid)
	case isPerm || giveUp:
		log.Warn("message failed", "attempts", attempts, "err", sendErr)
	default:
		log.Info("send failed, will retry", "attempts", attempts, "retry_in", Backoff(attempts), "err", sendErr)
	}
}

// persist runs a write of what delivery learned, again and again while the
// database cannot be reached (up to a lease: then another claim may take
// the message anyway), so an outage does not leave a sent message to be
// sent again, nor a failed one waiting for its lease.
func (d *Dispatcher) persist(write func() error) error {
	wait := 100 * time.Millisecond
	deadline := time.Now().Add(d.cfg.Lease)
	for {
		err := write()
		if !errors.Is(err, store.ErrUnavailable) || time.Now().Add(wait).After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// partKeys are the keys of each part's SMSC id (dlr.IDKeys), so a receipt
// that writes the id in another base still finds its part.
func partKeys(pids string) [][]string {
	ids := strings.Split(pids, ",")
	keys := make([][]string, len(ids))
	for i, id := range ids {
		keys[i] = dlr.IDKeys(id)
	}
	return keys
}

// HandleReceipt applies a delivery receipt to its message: by the message's
// SID when the connector knows it, else by the SMSC's id of one of its parts.
// A message of several parts is delivered when every part is; undelivered
// or failed when one part is. A receipt for an id no part has (yet: it can
// come before the submit's outcome is recorded) is kept and applied when
// the parts are recorded.
func (d *Dispatcher) HandleReceipt(ctx context.Context, r sms.Receipt) error {
	if r.Status == "" {
		return nil // an intermediate state (ENROUTE, ACCEPTD): nothing to record
	}
	rc := message.Receipt{Connector: r.Connector, MessageSID: r.MessageSID, Status: r.Status,
		ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage, At: d.cfg.Clock.Now().UTC()}
	if rc.MessageSID == "" {
		rc.Keys = dlr.IDKeys(r.ProviderID)
	}
	queued, err := d.cfg.Store.ApplyReceipt(ctx, rc)
	if queued && d.cfg.AfterStatus != nil {
		d.cfg.AfterStatus()
	}
	return err
}

// msgLog logs about one message: its SID, its masked number or address
// and, once known, its connector. It formats them only for a line that is written
// (slog's With would format them for every message, logged or not).
type msgLog struct {
	l         *slog.Logger
	sid, to   string
	channel   message.Channel
	connector string
}

func (m msgLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !m.l.Enabled(ctx, level) {
		return
	}
	masked := phone.Mask(m.to)
	if m.channel == message.Email {
		masked = emailaddr.Mask(m.to)
	}
	attrs := []any{"message_sid", m.sid, "to", masked}
	if m.connector != "" {
		attrs = append(attrs, "connector", m.connector)
	}
	m.l.Log(ctx, level, msg, append(attrs, args...)...)
}

func (m msgLog) Debug(msg string, args ...any) { m.log(slog.LevelDebug, msg, args) }
func (m msgLog) Info(msg string, args ...any)  { m.log(slog.LevelInfo, msg, args) }
func (m msgLog) Warn(msg string, args ...any)  { m.log(slog.LevelWarn, msg, args) }
func (m msgLog) Error(msg string, args ...any) { m.log(slog.LevelError, msg, args) }
