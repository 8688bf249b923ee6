package sqlite_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/verification"
)

// BenchmarkSMPPSend is the store's part of a code sent over SMPP, as under
// load (64 senders): the send (a new verification, its message queued in
// the outbox, the per-number limit, each to a fresh number), its outcome
// (sent, with the SMSC's id of its one part) and its receipt (delivered,
// found by that id), the last two as lazy writes from other goroutines,
// as the dispatcher and the SMPP bind write them. It reports sends/s, the
// writer's busy time per send and the process's CPU time per send.
func BenchmarkSMPPSend(b *testing.B) {
	s := MustOpenTemp(b)
	if err := s.InsertAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	var smscID atomic.Int64
	outcomes, receipts := make(chan message.Message, 1024), make(chan string, 1024)
	var outcoming, receiving sync.WaitGroup
	for range 256 {
		outcoming.Go(func() {
			for m := range outcomes {
				id := strconv.FormatInt(smscID.Add(1), 16)
				out := message.Outcome{SID: m.SID, Status: message.Sent, Connector: "sim", ProviderID: id,
					PartKeys: [][]string{{id}}, At: time.Now()}
				if err := s.RecordOutcome(ctx, out); err != nil {
					b.Error(err)
				}
				receipts <- id
			}
		})
	}
	for range 256 {
		receiving.Go(func() {
			for id := range receipts {
				r := message.Receipt{Connector: "sim", Keys: []string{id}, Status: message.Delivered, At: time.Now()}
				if _, err := s.ApplyReceipt(ctx, r); err != nil {
					b.Errorf("receipt %s: %v", id, err)
				}
			}
		})
	}
	var last atomic.Pointer[string]
	before, cpu := sendCodes(b, s, func(m message.Message, o message.Outbound, v *verification.Change, limit ratelimit.Limit) error {
		if err := s.InsertSend(ctx, m, o, v, limit); err != nil {
			return err
		}
		last.Store(&m.SID)
		outcomes <- m
		return nil
	})
	close(outcomes)
	outcoming.Wait()
	close(receipts)
	receiving.Wait()
	b.StopTimer()
	if got, err := s.Message(ctx, acct.SID, *last.Load()); err != nil || got.Status != message.Delivered {
		b.Errorf("the last message after its receipt: %s, %v; want delivered", got.Status, err)
	}
	reportStore(b, s, before, cpu)
}
