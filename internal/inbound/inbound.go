// Package inbound stores mobile-originated messages: a user texting the
// service's number or sender. A long message arrives in parts, each acked by
// the SMSC only once stored; the message is written to the message log when
// its last part is in.
package inbound

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
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
	account := ""
	if r.AccountFor != nil {
		account = r.AccountFor(m.To)
	}
	_, err := r.Receive(ctx, account, m)
	return err
}

// Receive stores m for an account and, when the account has an SMS URL,
// queues the webhook (Twilio's inbound parameters, signed like status
// callbacks) in the same transaction.
// It returns the message's SID once the message is whole ("" for a part
// that waits for others).
func (r *Receiver) Receive(ctx context.Context, accountSID string, m sms.Inbound) (string, error) {
	var stored string
	hook := false
	err := r.Store.Update(ctx, func(tx store.Tx) error {
		stored, hook = "", false
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
			SID: otpgate.NewSID(otpgate.PrefixMessage), AccountSID: accountSID, Direction: Direction, From: m.From, To: m.To, Body: text,
			Status: Received, Encoding: string(info.Encoding), Segments: total, Connector: m.Connector,
			CreatedAt: m.ReceivedAt.UTC(), UpdatedAt: m.ReceivedAt.UTC(),
		}
		stored = msg.SID
		if err := tx.InsertMessage(msg); err != nil {
			return err
		}
		if accountSID == "" {
			return nil
		}
		acc, err := tx.Account(accountSID)
		if err != nil || acc.SMSURL == "" {
			return err
		}
		hook = true
		return tx.EnqueueCallback(store.Callback{
			SID: otpgate.NewSID(otpgate.PrefixCallback), MessageSID: msg.SID, AccountSID: accountSID, URL: acc.SMSURL,
			Params: Params(msg).Encode(), NextAttemptAt: msg.CreatedAt, CreatedAt: msg.CreatedAt,
		})
	})
	if err == nil && hook && r.Notify != nil {
		r.Notify()
	}
	if err == nil && stored != "" && r.Log != nil {
		r.Log.Info("inbound SMS stored", "message_sid", stored, "connector", m.Connector, "from", phone.Mask(m.From), "parts", max(1, m.Total))
	}
	return stored, err
}

// Params are Twilio's parameters for an incoming message webhook.
func Params(m store.Message) url.Values {
	v := url.Values{}
	v.Set("MessageSid", m.SID)
	v.Set("SmsSid", m.SID)
	v.Set("SmsMessageSid", m.SID)
	v.Set("AccountSid", m.AccountSID)
	v.Set("From", m.From)
	v.Set("To", m.To)
	v.Set("Body", m.Body)
	v.Set("NumSegments", strconv.Itoa(m.Segments))
	v.Set("NumMedia", "0")
	v.Set("SmsStatus", Received)
	v.Set("ApiVersion", "2010-04-01")
	return v
}
