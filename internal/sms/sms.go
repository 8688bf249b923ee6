// Package sms declares what a delivery channel (a connector) is: something
// that takes a message and hands it to a network, telling transient failures
// from permanent ones, and reporting delivery receipts back.
package sms

import (
	"context"
	"errors"
	"time"

	"github.com/otpgate/otpgate/internal/message"
)

// Message is an SMS ready to go: Body is the real text (for a verification
// SMS, with the code in it). It must not be logged.
type Message struct {
	SID        string
	AccountSID string
	From       string
	To         string // E.164, or an email address when Channel is message.Email
	Body       string
	Channel    message.Channel // message.SMS or message.Email
	Subject    string          // an email's subject
}

// Connector delivers messages. Send returns the provider's id for the
// message, or an error: Permanent errors fail the message, any other error
// is retried with backoff.
type Connector interface {
	Name() string
	Send(ctx context.Context, m Message) (providerID string, err error)
}

// DeliveredOnSend is implemented by connectors whose Send is itself the
// delivery (the sandbox): the dispatcher records such a message delivered
// at once, with no receipt to wait for.
type DeliveredOnSend interface {
	DeliveredOnSend() bool
}

// Inbox is implemented by connectors whose delivery is an entry kept in
// the store (the sandbox): the dispatcher does not call Send, but keeps
// the entry Entry returns with the message's outcome, in one write.
type Inbox interface {
	Entry(m Message, at time.Time) message.SandboxEntry
}

// Receipt is a delivery report from the network about a sent message.
type Receipt struct {
	Connector    string
	ProviderID   string
	MessageSID   string         // when the connector knows it; else found by ProviderID
	Status       message.Status // Delivered, Undelivered or Failed; "" for an intermediate state
	ErrorCode    int
	ErrorMessage string
	At           time.Time
}

// Inbound is a mobile-originated message, or one part of a long one.
type Inbound struct {
	Connector  string
	From, To   string
	Text       string
	Ref        uint16 // concatenation reference, when Total > 1
	Total, Seq int
	ReceivedAt time.Time
}

// ReceiptSink takes receipts; a connector that produces receipts is given one.
type ReceiptSink interface {
	HandleReceipt(ctx context.Context, r Receipt) error
}

// PermanentError marks a failure that retrying cannot fix.
type PermanentError struct {
	Code int // the network's error code, if any
	Err  error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure.
func Permanent(code int, err error) error { return &PermanentError{Code: code, Err: err} }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) (*PermanentError, bool) {
	var p *PermanentError
	ok := errors.As(err, &p)
	return p, ok
}
