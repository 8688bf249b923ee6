// Package inbound stores mobile-originated messages: a user texting the
// service's number or sender. A long message arrives in parts, each acked by
// the SMSC only once stored; the message is written to the message log, with
// its account's webhook, when its last part is in.
package inbound

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smsenc"
	"github.com/otpgate/otpgate/internal/store"
)

// Store keeps inbound messages and their parts.
type Store interface {
	// Account returns an account (for its SMS URL).
	Account(ctx context.Context, sid string) (account.Account, error)
	// AddInboundPart keeps one part of a long message (a part seen before
	// is kept once) and returns every part kept for the same message
	// (connector, from, to, ref, total), in order.
	AddInboundPart(ctx context.Context, p message.InboundPart) ([]message.InboundPart, error)
	// InsertInbound stores a received message with its callbacks; when
	// parts is set, it also removes the parts of that message, and returns
	// store.ErrConflict, writing nothing, if they are no longer all there
	// (another receiver assembled them first).
	InsertInbound(ctx context.Context, m message.Message, parts *message.InboundPart, cbs []callback.Callback) error
}

// Receiver stores inbound messages.
type Receiver struct {
	Store Store
	Log   *slog.Logger
	// AccountFor names the account an inbound message belongs to, by the
	// address it was sent to; "" keeps it unassigned.
	AccountFor func(to string) string
	// Notify is called after a message that has a webhook to call is stored.
	Notify func()
}

// HandleInbound stores m (a whole message, or one part of a long one) for
// the account its destination belongs to. It returns only once what m
// carries is durable.
func (r *Receiver) HandleInbound(ctx context.Context, m sms.Inbound) error {
	acct := ""
	if r.AccountFor != nil {
		acct = r.AccountFor(m.To)
	}
	_, err := r.Receive(ctx, acct, m)
	return err
}

// Receive stores m for an account and, when the account has an SMS URL,
// queues the webhook (Twilio's inbound parameters, signed like status
// callbacks) in the same transaction. It returns the message's SID once the
// message is whole ("" for a part that waits for others).
func (r *Receiver) Receive(ctx context.Context, accountSID string, m sms.Inbound) (string, error) {
	text, total := m.Text, max(1, m.Total)
	var parts *message.InboundPart
	if total > 1 {
		p := message.InboundPart{Connector: m.Connector, From: m.From, To: m.To, Ref: int(m.Ref), Total: total, Seq: m.Seq, Text: m.Text, ReceivedAt: m.ReceivedAt}
		all, err := r.Store.AddInboundPart(ctx, p)
		if err != nil {
			return "", err
		}
		if len(all) < total {
			return "", nil // wait for the other parts
		}
		var b strings.Builder
		for _, q := range all {
			b.WriteString(q.Text)
		}
		text, parts = b.String(), &p
	}
	info := smsenc.Analyze(text)
	msg := message.Message{
		SID: otpgate.NewSID(otpgate.PrefixMessage), AccountSID: accountSID, Direction: message.Inbound, From: m.From, To: m.To, Body: text,
		Status: message.Received, Encoding: string(info.Encoding), Segments: total, Connector: m.Connector,
		CreatedAt: m.ReceivedAt.UTC(), UpdatedAt: m.ReceivedAt.UTC(),
	}
	var cbs []callback.Callback
	if accountSID != "" {
		acc, err := r.Store.Account(ctx, accountSID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if cb, ok := callback.ForInbound(msg, acc.SMSURL); ok {
			cbs = append(cbs, cb)
		}
	}
	err := r.Store.InsertInbound(ctx, msg, parts, cbs)
	if errors.Is(err, store.ErrConflict) {
		return "", nil // the last part came twice at once: the other one stored the message
	}
	if err != nil {
		return "", err
	}
	if len(cbs) > 0 && r.Notify != nil {
		r.Notify()
	}
	if r.Log != nil {
		r.Log.Info("inbound SMS stored", "message_sid", msg.SID, "connector", m.Connector, "from", phone.Mask(m.From), "parts", total)
	}
	return msg.SID, nil
}
