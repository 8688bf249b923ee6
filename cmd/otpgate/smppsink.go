package main

import (
	"context"
	"log/slog"

	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sqlite"
)

// smppSink takes what SMPP connectors receive: receipts go to the
// dispatcher; inbound messages are logged (storing them is the messaging
// API's work, still to come).
type smppSink struct {
	dispatcher *dispatch.Dispatcher
	store      *sqlite.Store
	log        *slog.Logger
}

func (s *smppSink) HandleReceipt(ctx context.Context, r sms.Receipt) error {
	return s.dispatcher.HandleReceipt(ctx, r)
}

func (s *smppSink) HandleInbound(ctx context.Context, m smpp.Inbound) error {
	s.log.Info("inbound SMS received (not stored yet)", "connector", m.Connector, "from", phone.Mask(m.From), "part", m.Seq, "parts", m.Total)
	return nil
}
