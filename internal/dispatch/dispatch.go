// Package dispatch moves messages from the outbox to a connector: it claims
// due items with a lease, sends them, and records the outcome: sent, retried
// later with backoff (transient failure), or failed (permanent failure, or
// the message expired or gave up). Delivery is at least once: a crash after
// a connector took a message but before the outcome was committed sends that
// message again once its lease runs out (on restart, at once).
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/callbacks"
	"github.com/otpgate/otpgate/internal/dlr"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/store"
)

// Opener decrypts sealed outbox bodies.
type Opener interface {
	Open(messageSID string, sealed []byte) ([]byte, error)
}

// Config configures a Dispatcher.
type Config struct {
	Store       store.Store
	Opener      Opener
	Connectors  []sms.Connector                 // in order of preference
	Route       func(to string) []sms.Connector // the connectors for a destination; default Connectors
	Clock       otpgate.Clock
	Logger      *slog.Logger
	Lease       time.Duration // how long a claim holds; default 2m
	SendTimeout time.Duration // per Send; default 30s
	Batch       int           // items per claim; default 256
	Concurrency int           // sends in flight; default 512
	Poll        time.Duration // longest sleep between claims; default 1s
	MaxAge      time.Duration // give up on a message this old; default 24h
	AfterStatus func()        // called after a status change is committed (to wake the callback sender)
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

// Dispatcher sends outbox items. Start it once; Stop is safe to call twice.
type Dispatcher struct {
	cfg      Config
	wake     chan struct{}
	handoff  chan store.OutboxItem
	sem      chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	inflight sync.WaitGroup
	stopOnce sync.Once
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
	return &Dispatcher{
		cfg:     cfg,
		wake:    make(chan struct{}, 1),
		handoff: make(chan store.OutboxItem, 1024),
		sem:     make(chan struct{}, cfg.Concurrency),
		done:    make(chan struct{}),
	}
}

// Claim marks an item, before it is enqueued, as claimed by this dispatcher
// for one lease: pollers (this one after a restart, or any other) leave it
// alone until then. Take must follow once the item is committed.
func (d *Dispatcher) Claim(it *store.OutboxItem) {
	it.Claimed = true
	it.NextAttemptAt = it.CreatedAt.Add(d.cfg.Lease)
}

// Take starts delivering a committed item that Claim marked. It never
// blocks: when too many are waiting it gives the item back to the outbox
// (due at once) for the poller to take.
func (d *Dispatcher) Take(it store.OutboxItem) {
	select {
	case d.handoff <- it:
	default:
		go func() {
			now := d.cfg.Clock.Now().UTC()
			err := d.cfg.Store.Update(context.Background(), func(tx store.Tx) error {
				return tx.RescheduleOutbox(it.MessageSID, it.Attempts, now, "")
			})
			if err != nil {
				d.cfg.Logger.Error("handing a message back to the outbox failed; it goes when its lease ends", "message_sid", it.MessageSID, "err", err)
			}
			d.Wake()
		}()
	}
}

// Wake tells the dispatcher new items are due. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start runs the dispatcher until Stop.
func (d *Dispatcher) Start(ctx context.Context) {
	ctx, d.cancel = context.WithCancel(ctx)
	go d.run(ctx)
}

// Stop stops claiming, waits for sends in flight and records their outcomes.
func (d *Dispatcher) Stop() {
	d.stopOnce.Do(func() {
		if d.cancel == nil {
			close(d.done)
			return
		}
		d.cancel()
		<-d.done
	})
}

func (d *Dispatcher) run(ctx context.Context) {
	defer close(d.done)
	defer d.inflight.Wait()
	handoffsDone := make(chan struct{})
	defer func() { <-handoffsDone }() // before inflight.Wait: no Add after it
	go func() {
		defer close(handoffsDone)
		d.takeHandoffs(ctx)
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := d.cfg.Clock.Now()
		items, err := d.cfg.Store.ClaimOutbox(ctx, now, now.Add(d.cfg.Lease), d.cfg.Batch)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("outbox claim failed", "err", err)
		}
		for _, it := range items {
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				// The item stays claimed; its lease runs out and it comes back.
				return
			}
			d.inflight.Add(1)
			go func(it store.OutboxItem) {
				defer func() { <-d.sem; d.inflight.Done() }()
				d.deliver(it)
			}(it)
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

// takeHandoffs delivers the items Take was given. Items still waiting when
// the dispatcher stops keep their claim; the next start releases it.
func (d *Dispatcher) takeHandoffs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-d.handoff:
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			d.inflight.Add(1)
			go func() {
				defer func() { <-d.sem; d.inflight.Done() }()
				d.deliver(it)
			}()
		}
	}
}

// deliver sends one item and records the outcome. It runs to completion even
// while the dispatcher stops, so an outcome is not lost for a send that happened.
func (d *Dispatcher) deliver(it store.OutboxItem) {
	ctx := context.Background()
	log := d.cfg.Logger.With("message_sid", it.MessageSID, "to", phone.Mask(it.To))
	now := d.cfg.Clock.Now()
	if !it.ExpiresAt.IsZero() && !now.Before(it.ExpiresAt) {
		d.finish(ctx, log, it, nil, "", sms.Permanent(0, errors.New("the message expired before it could be sent")))
		return
	}
	body, err := d.cfg.Opener.Open(it.MessageSID, it.Payload)
	if err != nil {
		d.finish(ctx, log, it, nil, "", sms.Permanent(0, err))
		return
	}
	msg := sms.Message{SID: it.MessageSID, AccountSID: it.AccountSID, From: it.From, To: it.To, Body: string(body)}
	// The route's connectors in order: the first that is up sends; one that
	// fails transiently hands over to the next.
	var lastErr error
	var last sms.Connector
	for _, c := range d.route(it.To) {
		if h, ok := c.(Healthy); ok && !h.Healthy() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
		pid, err := c.Send(sctx, msg)
		cancel()
		if err == nil {
			d.finish(ctx, log, it, c, pid, nil)
			return
		}
		if _, perm := sms.IsPermanent(err); perm {
			d.finish(ctx, log, it, c, "", err)
			return
		}
		log.Info("connector failed; trying the next of the route", "connector", c.Name(), "err", err)
		lastErr, last = err, c
	}
	if lastErr == nil {
		// No connector of the route is up: wait for one without using up an attempt.
		d.park(ctx, log, it)
		return
	}
	d.finish(ctx, log, it, last, "", lastErr)
}

// errGone: the message left the outbox (deleted through the API) while a
// connector was sending it.
var errGone = errors.New("dispatch: the message is no longer in the outbox")

// Healthy is implemented by connectors that can tell whether they can send
// now (an SMPP connector with no bind up cannot).
type Healthy interface{ Healthy() bool }

func (d *Dispatcher) route(to string) []sms.Connector {
	if d.cfg.Route != nil {
		return d.cfg.Route(to)
	}
	return d.cfg.Connectors
}

// park puts an item back for a second later without counting an attempt: no
// connector of its route was up. It fails only when it expires.
func (d *Dispatcher) park(ctx context.Context, log *slog.Logger, it store.OutboxItem) {
	now := d.cfg.Clock.Now().UTC()
	err := d.cfg.Store.Update(ctx, func(tx store.Tx) error {
		return tx.RescheduleOutbox(it.MessageSID, it.Attempts, now.Add(time.Second), "no connector of the route is bound")
	})
	if err != nil {
		log.Error("rescheduling failed; the message will be retried when its lease ends", "err", err)
	}
}

func (d *Dispatcher) finish(ctx context.Context, log *slog.Logger, it store.OutboxItem, c sms.Connector, pid string, sendErr error) {
	now := d.cfg.Clock.Now().UTC()
	attempts := it.Attempts + 1
	perm, isPerm := sms.IsPermanent(sendErr)
	giveUp := sendErr != nil && !isPerm && (now.Sub(it.CreatedAt) >= d.cfg.MaxAge ||
		(!it.ExpiresAt.IsZero() && !now.Add(Backoff(attempts)).Before(it.ExpiresAt)))
	name, deliveredOnSend := "", false
	if c != nil {
		name = c.Name()
		if dos, ok := c.(sms.DeliveredOnSend); ok {
			deliveredOnSend = dos.DeliveredOnSend()
		}
		log = log.With("connector", name)
	}
	err := d.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if sendErr != nil && !isPerm && !giveUp {
			return tx.RescheduleOutbox(it.MessageSID, attempts, now.Add(Backoff(attempts)), sendErr.Error())
		}
		u := store.MessageUpdate{SID: it.MessageSID, Connector: name, UpdatedAt: now, Quiet: it.Quiet, Dequeue: true}
		if sendErr == nil && !deliveredOnSend && pid != "" {
			if err := recordParts(tx, name, it.MessageSID, pid, now); err != nil {
				return err
			}
		}
		if sendErr == nil {
			// Unless a receipt came first and already said more.
			u.Status, u.From, u.ProviderID, u.SentAt = store.MsgSent, before(store.MsgSent), pid, now
			if deliveredOnSend {
				u.Status, u.From = store.MsgDelivered, before(store.MsgDelivered)
			}
		} else {
			u.Status, u.From, u.ErrorMessage = store.MsgFailed, before(store.MsgFailed), sendErr.Error()
			if isPerm {
				u.ErrorCode = perm.Code
			}
		}
		tr, err := tx.AdvanceMessage(u)
		if errors.Is(err, store.ErrNotFound) {
			return errGone
		}
		if err != nil {
			return err
		}
		return callbacks.OnTransition(tx, tr, now)
	})
	if err == nil && d.cfg.AfterStatus != nil {
		d.cfg.AfterStatus()
	}
	switch {
	case errors.Is(err, errGone):
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

// Outbound statuses in order: a message only moves forward (queued -> sent
// -> delivered, undelivered or failed), so a late status never overwrites a
// later one.
var order = [][]string{
	{store.MsgQueued},
	{store.MsgSent},
	{store.MsgDelivered, store.MsgUndelivered, store.MsgFailed},
}

// before returns the statuses a message may be in for status to apply.
func before(status string) []string {
	var out []string
	for _, step := range order {
		for _, s := range step {
			if s == status {
				return out
			}
		}
		out = append(out, step...)
	}
	return out
}

// HandleReceipt applies a delivery receipt to its message: by the message's
// SID when the connector knows it, else by the SMSC's id of one of its parts.
// A message of several parts is delivered when every part is; undelivered
// or failed when one part is. A receipt for an id no part has (yet: it can
// come before the submit's outcome is recorded) is kept and applied when
// the parts are recorded.
func (d *Dispatcher) HandleReceipt(ctx context.Context, r sms.Receipt) error {
	now := d.cfg.Clock.Now().UTC()
	if r.Status == "" {
		return nil // an intermediate state (ENROUTE, ACCEPTD): nothing to record
	}
	defer func() {
		if d.cfg.AfterStatus != nil {
			d.cfg.AfterStatus()
		}
	}()
	return d.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if r.MessageSID != "" {
			tr, err := tx.AdvanceMessage(store.MessageUpdate{
				SID: r.MessageSID, Status: r.Status, From: before(r.Status),
				ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage, UpdatedAt: now,
			})
			if err != nil {
				return err
			}
			return callbacks.OnTransition(tx, tr, now)
		}
		keys := dlr.IDKeys(r.ProviderID)
		sid, parts, err := tx.PartReceipt(r.Connector, keys, r.Status, r.ErrorCode)
		if errors.Is(err, store.ErrNotFound) {
			d.cfg.Logger.Info("receipt for an id not known (yet); kept", "connector", r.Connector, "smsc_id", r.ProviderID, "status", r.Status)
			return tx.InsertOrphanReceipt(store.OrphanReceipt{Connector: r.Connector, SMSCID: keys[0], Status: r.Status,
				ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage, ReceivedAt: now})
		}
		if err != nil {
			return err
		}
		return advanceByParts(tx, sid, parts, r.ErrorMessage, now)
	})
}

// recordParts stores the SMSC's ids of a sent message's parts and applies
// receipts that arrived for them first.
func recordParts(tx store.Tx, connector, messageSID, pids string, now time.Time) error {
	ids := strings.Split(pids, ",")
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = dlr.IDKeys(id)[0]
	}
	if err := tx.InsertMessageParts(messageSID, connector, keys); err != nil {
		return err
	}
	for _, id := range ids {
		orphans, err := tx.TakeOrphanReceipts(connector, dlr.IDKeys(id))
		if err != nil {
			return err
		}
		for _, o := range orphans {
			sid, parts, err := tx.PartReceipt(connector, dlr.IDKeys(id), o.Status, o.ErrorCode)
			if err != nil {
				return err
			}
			if err := advanceByParts(tx, sid, parts, o.ErrorMessage, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// advanceByParts sets a message's status from its parts' receipts.
func advanceByParts(tx store.Tx, sid string, parts []store.PartStatus, errMsg string, now time.Time) error {
	status, code := store.MsgDelivered, 0
	for _, p := range parts {
		switch p.Status {
		case store.MsgDelivered:
		case "":
			status = "" // a part has no receipt yet
		default:
			tr, err := tx.AdvanceMessage(store.MessageUpdate{SID: sid, Status: p.Status, From: before(p.Status),
				ErrorCode: p.ErrorCode, ErrorMessage: errMsg, UpdatedAt: now})
			if err != nil {
				return err
			}
			return callbacks.OnTransition(tx, tr, now)
		}
	}
	if status == "" {
		return nil
	}
	tr, err := tx.AdvanceMessage(store.MessageUpdate{SID: sid, Status: status, From: before(status), ErrorCode: code, UpdatedAt: now})
	if err != nil {
		return err
	}
	return callbacks.OnTransition(tx, tr, now)
}
