// Package sandbox is the connector for development: instead of a network it
// delivers each message to an inbox kept in the store, where the API serves
// it (with the real body, so a developer can read the code), and reports it
// delivered.
package sandbox

import (
	"context"
	"log/slog"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smsenc"
	"github.com/otpgate/otpgate/internal/store"
)

var _ sms.Connector = (*Connector)(nil)

// Name is the sandbox connector's name.
const Name = "sandbox"

// Connector is the sandbox connector.
type Connector struct {
	store  store.Store
	sink   sms.ReceiptSink
	clock  otpgate.Clock
	logger *slog.Logger
}

// New returns a sandbox connector writing to st. Receipts go to sink when it
// is set (SetSink may set it later).
func New(st store.Store, clock otpgate.Clock, logger *slog.Logger) *Connector {
	if clock == nil {
		clock = otpgate.SystemClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Connector{store: st, clock: clock, logger: logger}
}

// SetSink sets where delivery receipts go. Call it before the first Send.
func (c *Connector) SetSink(sink sms.ReceiptSink) { c.sink = sink }

// Name returns "sandbox".
func (c *Connector) Name() string { return Name }

// Send stores m in the sandbox inbox and reports it delivered.
func (c *Connector) Send(ctx context.Context, m sms.Message) (string, error) {
	info := smsenc.Analyze(m.Body)
	now := c.clock.Now().UTC()
	err := c.store.Update(ctx, func(tx store.Tx) error {
		return tx.InsertSandboxMessage(store.SandboxMessage{
			SID: m.SID, AccountSID: m.AccountSID, From: m.From, To: m.To, Body: m.Body,
			Segments: info.Segments, Encoding: string(info.Encoding), CreatedAt: now,
		})
	})
	if err != nil {
		return "", err // transient: the store may recover
	}
	c.logger.Info("sandbox delivered", "message_sid", m.SID, "to", phone.Mask(m.To), "segments", info.Segments, "encoding", info.Encoding)
	if c.sink != nil {
		if err := c.sink.HandleReceipt(ctx, sms.Receipt{Connector: Name, ProviderID: m.SID, MessageSID: m.SID, Status: store.MsgDelivered, At: now}); err != nil {
			c.logger.Warn("sandbox receipt not recorded", "message_sid", m.SID, "err", err)
		}
	}
	return m.SID, nil
}
