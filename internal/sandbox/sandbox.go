// Package sandbox is the connector for development: instead of a network it
// delivers each message to an inbox kept in the store, where the API serves
// it (with the real body, so a developer can read the code): an SMS, or an
// email with its subject. A message is delivered once its entry is kept:
// the dispatcher keeps it with the message's outcome (sms.Inbox).
package sandbox

import (
	"context"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smsenc"
)

// Store keeps the sandbox inbox.
type Store interface {
	// InsertSandboxEntry keeps a delivered message (once: a repeat of its
	// SID is ignored).
	InsertSandboxEntry(ctx context.Context, e message.SandboxEntry) error
}

var (
	_ sms.Connector       = (*Connector)(nil)
	_ sms.DeliveredOnSend = (*Connector)(nil)
	_ sms.Inbox           = (*Connector)(nil)
)

// Name is the sandbox connector's name.
const Name = "sandbox"

// Connector is the sandbox connector.
type Connector struct {
	store  Store
	clock  otpgate.Clock
	logger *slog.Logger
}

// New returns a sandbox connector writing to st.
func New(st Store, clock otpgate.Clock, logger *slog.Logger) *Connector {
	if clock == nil {
		clock = otpgate.SystemClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Connector{store: st, clock: clock, logger: logger}
}

// DeliveredOnSend is true: the inbox write is the delivery.
func (c *Connector) DeliveredOnSend() bool { return true }

// Name returns "sandbox".
func (c *Connector) Name() string { return Name }

// Send stores m in the sandbox inbox. The dispatcher does not call it: it
// keeps the Entry with the message's outcome.
func (c *Connector) Send(ctx context.Context, m sms.Message) (string, error) {
	e := c.Entry(m, c.clock.Now().UTC())
	if err := c.store.InsertSandboxEntry(ctx, e); err != nil {
		return "", err // transient: the store may recover
	}
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		masked := phone.Mask(m.To)
		if m.Channel == message.Email {
			masked = emailaddr.Mask(m.To)
		}
		c.logger.Debug("sandbox delivered", "message_sid", m.SID, "to", masked, "channel", m.Channel.Or(), "segments", e.Segments, "encoding", e.Encoding)
	}
	return m.SID, nil
}

// Entry is m's inbox entry, delivered at at: its body as sent, and the
// segments and encoding an SMS of it takes (an email: one, UTF-8).
func (c *Connector) Entry(m sms.Message, at time.Time) message.SandboxEntry {
	info := smsenc.Analyze(m.Body)
	encoding := string(info.Encoding)
	if m.Channel == message.Email {
		info.Segments, encoding = 1, "UTF-8"
	}
	return message.SandboxEntry{
		SID: m.SID, AccountSID: m.AccountSID, From: m.From, To: m.To, Body: m.Body,
		Segments: info.Segments, Encoding: encoding, CreatedAt: at,
		Channel: m.Channel.Or(), Subject: m.Subject,
	}
}
