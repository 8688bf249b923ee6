// Package messaging is the rules of ordinary SMS sent and received through
// the Twilio/Restcomm-compatible messages API: who may send what to whom, a
// message's life (queued, sent, delivered...; canceled while still queued),
// redaction and deletion.
package messaging

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/callbacks"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/smsenc"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verify"
)

// Twilio's error codes for the messages API.
const (
	CodeInvalidTo        = 21211
	CodeInvalidFrom      = 21212
	CodeBodyRequired     = 21602
	CodeBodyTooLong      = 21617
	CodeInvalidCallback  = 21609
	CodeNotCancelable    = 30409
	CodeNotRedactable    = 30410
	MaxBodyChars         = 1600
	MsgCanceled          = "canceled"
	DirectionOutboundAPI = "outbound-api"
)

// Sealer seals bodies for the outbox.
type Sealer interface {
	Seal(messageSID string, body []byte) []byte
}

// CallbackChecker validates a StatusCallback URL (webhook.Policy).
type CallbackChecker interface {
	ValidateURL(ctx context.Context, raw string) error
}

// Config configures a Service.
type Config struct {
	Store       store.Store
	Sealer      Sealer
	Phones      *phone.Parser
	Senders     verify.SenderPolicy // nil: any valid sender, From required
	Outbox      verify.Outbox       // nil: the dispatcher polls the outbox
	Notify      func()              // after a send commits, when Outbox is nil (to wake the poller)
	Callbacks   CallbackChecker     // nil: StatusCallback is refused
	AfterStatus func()              // called after a status change is committed
	Clock       otpgate.Clock
}

// Service sends and manages messages.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	return &Service{cfg: cfg}
}

// SendRequest is POST .../Messages.
type SendRequest struct {
	AccountSID     string
	From, To, Body string
	StatusCallback string
}

func invalid(code int, field, msg string) error {
	return &otpgate.Error{Kind: otpgate.KindInvalid, Code: code, Field: field, Message: msg}
}

// Send queues a message; it is committed (and its SMS in the outbox) when
// Send returns.
func (s *Service) Send(ctx context.Context, req SendRequest) (store.Message, error) {
	if strings.TrimSpace(req.To) == "" {
		return store.Message{}, invalid(CodeInvalidTo, "To", "Missing required parameter 'To': the phone number to send to, e.g. +962790320012")
	}
	to, err := s.cfg.Phones.ParseSMS(req.To)
	if err != nil {
		return store.Message{}, invalid(CodeInvalidTo, "To", "Invalid 'To': "+err.Error())
	}
	from := strings.TrimSpace(req.From)
	if s.cfg.Senders != nil {
		if from, err = s.cfg.Senders.Sender(to.E164, from); err != nil {
			return store.Message{}, asFromError(err)
		}
	}
	if from, err = verify.CheckSender(s.cfg.Phones, from); err != nil {
		return store.Message{}, asFromError(err)
	}
	body := req.Body
	if strings.TrimSpace(body) == "" {
		return store.Message{}, invalid(CodeBodyRequired, "Body", "Missing required parameter 'Body': the text to send, up to 1600 characters in any script")
	}
	if !utf8.ValidString(body) {
		return store.Message{}, invalid(CodeBodyRequired, "Body", "Invalid 'Body': it is not valid UTF-8 text")
	}
	if n := utf8.RuneCountInString(body); n > MaxBodyChars {
		return store.Message{}, invalid(CodeBodyTooLong, "Body", "Invalid 'Body': it is "+strconv.Itoa(n)+" characters; at most 1600 are accepted")
	}
	if req.StatusCallback != "" {
		if s.cfg.Callbacks == nil {
			return store.Message{}, invalid(CodeInvalidCallback, "StatusCallback", "Invalid 'StatusCallback': status callbacks are not enabled on this server")
		}
		if err := s.cfg.Callbacks.ValidateURL(ctx, req.StatusCallback); err != nil {
			return store.Message{}, invalid(CodeInvalidCallback, "StatusCallback", "Invalid 'StatusCallback': "+err.Error())
		}
	}
	now := s.cfg.Clock.Now().UTC()
	info := smsenc.Analyze(body)
	m := store.Message{
		SID: otpgate.NewSID(otpgate.PrefixMessage), AccountSID: req.AccountSID, Direction: DirectionOutboundAPI,
		From: from, To: to.E164, Body: body, Status: store.MsgQueued, Encoding: string(info.Encoding), Segments: info.Segments,
		CreatedAt: now, UpdatedAt: now, StatusCallback: req.StatusCallback,
	}
	var item store.OutboxItem
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		item = store.OutboxItem{MessageSID: m.SID, AccountSID: m.AccountSID, From: from, To: to.E164,
			Payload: s.cfg.Sealer.Seal(m.SID, []byte(body)), NextAttemptAt: now, CreatedAt: now, Quiet: req.StatusCallback == ""}
		if s.cfg.Outbox != nil {
			s.cfg.Outbox.Claim(&item)
		}
		return tx.InsertQueuedMessage(m, item)
	})
	if err != nil {
		return store.Message{}, err
	}
	if s.cfg.Outbox != nil {
		s.cfg.Outbox.Take(item) // delivered from here: no need to wake the poller
	} else if s.cfg.Notify != nil {
		s.cfg.Notify()
	}
	return m, nil
}

// asFromError gives sender errors the messages API's field name and code.
func asFromError(err error) error {
	e := otpgate.AsError(err)
	if e == nil {
		return err
	}
	c := *e
	c.Field = "From"
	c.Message = strings.ReplaceAll(c.Message, "'from'", "'From'")
	if c.Code == otpgate.CodeInvalidParameter {
		c.Code = CodeInvalidFrom
	}
	return &c
}

func notFound(sid string) error {
	return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Messages/%s was not found", sid)
}

// Get returns one of the account's messages.
func (s *Service) Get(ctx context.Context, accountSID, sid string) (store.Message, error) {
	m, err := s.cfg.Store.Message(ctx, accountSID, sid)
	if errors.Is(err, store.ErrNotFound) {
		return m, notFound(sid)
	}
	return m, err
}

// owned runs fn on the account's message in a transaction.
func (s *Service) owned(ctx context.Context, accountSID, sid string, fn func(tx store.Tx, m store.Message) error) (store.Message, error) {
	var out store.Message
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		m, err := tx.Message(sid)
		if errors.Is(err, store.ErrNotFound) || (err == nil && m.AccountSID != accountSID) {
			return notFound(sid)
		}
		if err != nil {
			return err
		}
		if err := fn(tx, m); err != nil {
			return err
		}
		out, err = tx.Message(sid)
		if errors.Is(err, store.ErrNotFound) {
			out, err = m, nil // deleted
		}
		return err
	})
	return out, err
}

// Redact empties a message's body. A message still queued cannot be
// redacted (its text is about to be sent).
func (s *Service) Redact(ctx context.Context, accountSID, sid string) (store.Message, error) {
	now := s.cfg.Clock.Now().UTC()
	return s.owned(ctx, accountSID, sid, func(tx store.Tx, m store.Message) error {
		if m.Status == store.MsgQueued {
			return otpgate.Errorf(otpgate.KindConflict, CodeNotRedactable,
				"Message %s is still queued and cannot be redacted yet; cancel it (Status=canceled) or redact it once it was sent", sid)
		}
		return tx.RedactMessage(sid, now)
	})
}

// Cancel stops a message that is still queued.
func (s *Service) Cancel(ctx context.Context, accountSID, sid string) (store.Message, error) {
	now := s.cfg.Clock.Now().UTC()
	defer func() {
		if s.cfg.AfterStatus != nil {
			s.cfg.AfterStatus()
		}
	}()
	return s.owned(ctx, accountSID, sid, func(tx store.Tx, m store.Message) error {
		if m.Status != store.MsgQueued {
			return otpgate.Errorf(otpgate.KindConflict, CodeNotCancelable,
				"Message %s cannot be canceled: it is %s; only queued messages can be canceled", sid, m.Status)
		}
		if err := tx.CancelOutbox(sid); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return otpgate.Errorf(otpgate.KindConflict, CodeNotCancelable, "Message %s cannot be canceled: it is being sent", sid)
			}
			return err
		}
		tr, err := tx.AdvanceMessage(store.MessageUpdate{SID: sid, Status: MsgCanceled, From: []string{store.MsgQueued}, UpdatedAt: now})
		if err != nil {
			return err
		}
		return callbacks.OnTransition(tx, tr, now)
	})
}

// Delete removes a message record (a queued one is canceled with it).
func (s *Service) Delete(ctx context.Context, accountSID, sid string) error {
	_, err := s.owned(ctx, accountSID, sid, func(tx store.Tx, m store.Message) error {
		return tx.DeleteMessage(sid)
	})
	return err
}

// List returns a page of the account's messages.
func (s *Service) List(ctx context.Context, f store.MessageFilter) ([]store.Message, error) {
	return s.cfg.Store.Messages(ctx, f)
}
