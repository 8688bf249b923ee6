// Package inbound stores mobile-originated messages: a user texting the
// service's number or sender. A long message arrives in parts, each acked by
// the SMSC only once stored; the message is written to the message log when
// its last part is in.
package inbound

import (
	"context"
	"log/slog"
	"strings"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smsenc"
	"github.com/otpgate/otpgate/internal/store"
)

// Direction and status of an inbound message in the message log.
const (
	Direction = "inbound"
	Received  = "received"
)

// Receiver stores inbound messages.
type Receiver struct {
	Store store.Store
	Log   *slog.Logger
}

// HandleInbound stores m (a whole message, or one part of a long one). It
// returns only once what m carries is durable.
func (r *Receiver) HandleInbound(ctx context.Context, m sms.Inbound) error {
	var stored string
	err := r.Store.Update(ctx, func(tx store.Tx) error {
		stored = ""
		text := m.Text
		total := max(1, m.Total)
		if total > 1 {
			p := store.InboundPart{Connector: m.Connector, From: m.From, To: m.To, Ref: int(m.Ref), Total: total, Seq: m.Seq, Text: m.Text, ReceivedAt: m.ReceivedAt}
			parts, err := tx.AddInboundPart(p)
			if err != nil {
				return err
			}
			if len(parts) < total {
				return nil // wait for the other parts
			}
			var b strings.Builder
			for _, q := range parts {
				b.WriteString(q.Text)
			}
			text = b.String()
			if err := tx.DeleteInboundParts(p); err != nil {
				return err
			}
		}
		info := smsenc.Analyze(text)
		msg := store.Message{
			SID: otpgate.NewSID(otpgate.PrefixMessage), Direction: Direction, From: m.From, To: m.To, Body: text,
			Status: Received, Encoding: string(info.Encoding), Segments: total, Connector: m.Connector,
			CreatedAt: m.ReceivedAt.UTC(), UpdatedAt: m.ReceivedAt.UTC(),
		}
		stored = msg.SID
		return tx.InsertMessage(msg)
	})
	if err == nil && stored != "" && r.Log != nil {
		r.Log.Info("inbound SMS stored", "message_sid", stored, "connector", m.Connector, "from", phone.Mask(m.From), "parts", max(1, m.Total))
	}
	return err
}
