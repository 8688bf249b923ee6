// Package messaging runs the messages API's rules: sending a message (through
// the send pipeline, like every SMS), and what may be done to one afterwards:
// read, list, redact once sent, cancel while still queued, delete. A
// message's statuses and their order are package message's.
package messaging

import (
	"context"
	"errors"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/store"
)

// Codes for what cannot be done to a message now (Twilio's numbers, which
// every dialect uses).
const (
	CodeNotCancelable = 30409
	CodeNotRedactable = 30410
)

// Store keeps messages.
type Store interface {
	// Message returns one of the account's messages.
	Message(ctx context.Context, accountSID, sid string) (message.Message, error)
	// Messages lists messages newest first ("" AccountSID: inbound ones not
	// assigned to an account).
	Messages(ctx context.Context, f message.Filter) ([]message.Message, error)
	// RedactMessage empties the body of one of the account's messages if its
	// status is one of from; store.ErrConflict otherwise.
	RedactMessage(ctx context.Context, accountSID, sid string, from []message.Status, at time.Time) error
	// CancelMessage moves one of the account's messages from queued to
	// canceled and out of the outbox, with its status callback, if no
	// dispatcher holds it; store.ErrConflict otherwise.
	CancelMessage(ctx context.Context, accountSID, sid string, at time.Time) error
	// DeleteMessage removes one of the account's messages (and its outbox
	// entry, so a queued one is not sent).
	DeleteMessage(ctx context.Context, accountSID, sid string) error
}

// Sender sends SMS (the pipeline).
type Sender interface {
	Send(ctx context.Context, r pipeline.Request) (pipeline.Result, error)
}

// Config configures a Service.
type Config struct {
	Store       Store
	SMS         Sender
	Clock       otpgate.Clock
	AfterStatus func() // called after a status change is committed (to wake the webhook sender)
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

// SendRequest is a message an app sends.
type SendRequest struct {
	AccountSID     string
	From, To, Body string
	StatusCallback string
}

// Send queues a message; it is committed (and on its way) when Send returns.
func (s *Service) Send(ctx context.Context, req SendRequest) (message.Message, error) {
	res, err := s.cfg.SMS.Send(ctx, pipeline.Request{
		AccountSID: req.AccountSID, To: req.To, From: req.From, Body: req.Body, StatusCallback: req.StatusCallback,
	})
	return res.Message, err
}

func notFound(sid string) error {
	return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "Message %s was not found", sid)
}

// Get returns one of the account's messages.
func (s *Service) Get(ctx context.Context, accountSID, sid string) (message.Message, error) {
	m, err := s.cfg.Store.Message(ctx, accountSID, sid)
	if errors.Is(err, store.ErrNotFound) {
		return m, notFound(sid)
	}
	return m, err
}

// redactable are the statuses a message may be redacted in: any but queued
// (its text is about to be sent).
var redactable = []message.Status{message.Sent, message.Delivered, message.Undelivered, message.Failed, message.Canceled, message.Received}

// Redact empties a message's body.
func (s *Service) Redact(ctx context.Context, accountSID, sid string) (message.Message, error) {
	err := s.cfg.Store.RedactMessage(ctx, accountSID, sid, redactable, s.cfg.Clock.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return message.Message{}, notFound(sid)
	case errors.Is(err, store.ErrConflict):
		return message.Message{}, otpgate.Errorf(otpgate.KindConflict, CodeNotRedactable,
			"Message %s is still queued and cannot be redacted yet: cancel it, or redact it once it was sent", sid)
	case err != nil:
		return message.Message{}, err
	}
	return s.Get(ctx, accountSID, sid)
}

// Cancel stops a message that is still queued.
func (s *Service) Cancel(ctx context.Context, accountSID, sid string) (message.Message, error) {
	err := s.cfg.Store.CancelMessage(ctx, accountSID, sid, s.cfg.Clock.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return message.Message{}, notFound(sid)
	case errors.Is(err, store.ErrConflict):
		m, gerr := s.Get(ctx, accountSID, sid)
		if gerr != nil {
			return m, gerr
		}
		if m.Status == message.Queued {
			return m, otpgate.Errorf(otpgate.KindConflict, CodeNotCancelable, "Message %s cannot be canceled: it is being sent", sid)
		}
		return m, otpgate.Errorf(otpgate.KindConflict, CodeNotCancelable,
			"Message %s cannot be canceled: it is %s; only queued messages can be canceled", sid, m.Status)
	case err != nil:
		return message.Message{}, err
	}
	if s.cfg.AfterStatus != nil {
		s.cfg.AfterStatus()
	}
	return s.Get(ctx, accountSID, sid)
}

// Delete removes a message record (a queued one is not sent).
func (s *Service) Delete(ctx context.Context, accountSID, sid string) error {
	err := s.cfg.Store.DeleteMessage(ctx, accountSID, sid)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(sid)
	}
	return err
}

// List returns a page of the account's messages.
func (s *Service) List(ctx context.Context, f message.Filter) ([]message.Message, error) {
	return s.cfg.Store.Messages(ctx, f)
}
