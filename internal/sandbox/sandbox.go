// Package sandbox is the connector for development: instead of a network it
// delivers each message to an inbox kept in the store, where the API serves
// it (with the real body, so a developer can read the code): an SMS, or an
// email with its subject. A message is delivered when Send returns.
package sandbox

import (
	"context"
	"log/slog"

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

// Send stores m in the sandbox inbox.
func (c *Connector) Send(ctx context.Context, m sms.Message) (string, error) {
	info := smsenc.Analyze(m.Body)
	encoding, masked := string(info.Encoding), phone.Mask(m.To)
	if m.Channel == message.Email {
		info.Segments, encoding, masked = 1, "UTF-8", emailaddr.Mask(m.To)
	}
	now := c.clock.Now().UTC()
	err := c.store.InsertSandboxEntry(ctx, message.SandboxEntry{
		SID: m.SID, AccountSID: m.AccountSID, From: m.From, To: m.To, Body: m.Body,
		Segments: info.Segments, Encoding: encoding, CreatedAt: now,
		Channel: m.Channel.Or(), Subject: m.Subject,
	})
	if err != nil {
		return "", err // transient: the store may recover
	}
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.Debug("sandbox delivered", "message_sid", m.SID, "to", masked, "channel", m.Channel.Or(), "segments", info.Segments, "encoding", encoding)
	}
	return m.SID, nil
}
