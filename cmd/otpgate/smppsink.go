package main

import (
	"context"

	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/sms"
)

// smppSink takes what SMPP connectors receive: receipts go to the
// dispatcher, inbound messages to the inbound receiver.
type smppSink struct {
	dispatcher *dispatch.Dispatcher
	inbound    *inbound.Receiver
}

func (s *smppSink) HandleReceipt(ctx context.Context, r sms.Receipt) error {
	return s.dispatcher.HandleReceipt(ctx, r)
}

func (s *smppSink) HandleInbound(ctx context.Context, m sms.Inbound) error {
	return s.inbound.HandleInbound(ctx, m)
}
