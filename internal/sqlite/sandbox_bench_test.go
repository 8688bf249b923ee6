package sqlite_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/verification"
)

// BenchmarkSandboxSend is the store's part of a code sent in the sandbox,
// as under load (64 senders): the send (a new verification, its message
// and outbox entry, the per-number limit, each to a fresh number) and its
// delivery, the inbox entry and the outcome. The delivery is written in the
// send's own write, as the pipeline has the sandbox's delivered (inline);
// or, as the dispatcher does for a message it takes from the outbox, on up
// to 512 goroutines after the send: the entry with the outcome, in one
// write (with_outcome), or in a write of its own before the outcome's
// (then_outcome, as it once did). It reports sends/s, the writer's busy
// time per send (what bounds the rate when the writer is the bottleneck;
// its fsyncs included), and the CPU time of the whole process per send.
func BenchmarkSandboxSend(b *testing.B) {
	for _, mode := range []string{"inbox_then_outcome", "inbox_with_outcome", "inline"} {
		b.Run(mode, func(b *testing.B) { benchSandboxSend(b, mode) })
	}
}

func benchSandboxSend(b *testing.B, mode string) {
	s := MustOpenTemp(b)
	if err := s.InsertAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	deliver := make(chan message.Message, 1024)
	var delivering sync.WaitGroup
	for range 512 {
		delivering.Go(func() {
			for m := range deliver {
				e := benchEntry(m, time.Now())
				out := message.Outcome{SID: m.SID, Status: message.Delivered, Connector: "sandbox", At: e.CreatedAt, Inbox: &e}
				if mode == "inbox_then_outcome" {
					if err := s.InsertSandboxEntry(ctx, e); err != nil {
						b.Error(err)
					}
					out.Inbox = nil
				}
				if err := s.RecordOutcome(ctx, out); err != nil {
					b.Error(err)
				}
			}
		})
	}
	before, cpu := sendCodes(b, s, func(m message.Message, o message.Outbound, v *verification.Change, limit ratelimit.Limit) error {
		if mode == "inline" {
			e := benchEntry(m, m.CreatedAt)
			o.Delivered = &message.Outcome{SID: m.SID, Status: message.Delivered, Connector: "sandbox", At: m.CreatedAt, Inbox: &e}
		}
		if err := s.InsertSend(ctx, m, o, v, limit); err != nil {
			return err
		}
		if mode != "inline" {
			deliver <- m
		}
		return nil
	})
	close(deliver)
	delivering.Wait()
	b.StopTimer()
	reportStore(b, s, before, cpu)
}

// benchCode is the n-th code of a store benchmark: a new verification to a
// fresh number, its message and outbox entry, and the per-number limit.
func benchCode(n int64) (message.Message, message.Outbound, *verification.Change, ratelimit.Limit) {
	now := time.Now().UTC()
	v := verif
	v.SID, v.To = otpgate.NewSID(otpgate.PrefixVerification), fmt.Sprintf("+96279%07d", n)
	v.CreatedAt, v.UpdatedAt, v.ExpiresAt = now, now, now.Add(10*time.Minute)
	m, o := msg, outbound
	m.SID = otpgate.NewSID(otpgate.PrefixMessage)
	m.VerificationSID, m.To, m.CreatedAt, m.UpdatedAt = v.SID, v.To, now, now
	o.SID, o.To, o.CreatedAt, o.LeaseUntil, o.ExpiresAt = m.SID, m.To, now, now.Add(time.Minute), v.ExpiresAt
	return m, o, &verification.Change{V: v, New: true}, ratelimit.Limit{Key: "n:" + v.To, Max: 5, Window: 10 * time.Minute}
}

// sendCodes stores b.N codes made by benchCode from 64 senders (32 a CPU,
// for 2 CPUs) through send, and returns the store's counters and the
// process's CPU time from before the first. A sender stops at an error.
func sendCodes(b *testing.B, s *sqlite.Store, send func(message.Message, message.Outbound, *verification.Change, ratelimit.Limit) error) (sqlite.Stats, time.Duration) {
	var seq atomic.Int64
	before, cpu := s.Stats(), cpuTime()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := send(benchCode(seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	return before, cpu
}

// benchEntry is m's sandbox inbox entry, kept at at.
func benchEntry(m message.Message, at time.Time) message.SandboxEntry {
	return message.SandboxEntry{SID: m.SID, AccountSID: m.AccountSID, From: m.From, To: m.To, Body: m.Body,
		Segments: 1, Encoding: "GSM-7", CreatedAt: at, Channel: message.SMS}
}

// reportStore reports a store benchmark's rate (reportOps), and per send
// the writer's busy time (what bounds the rate when the writer is the
// bottleneck; its fsyncs included) and the process's CPU time, since
// before and cpu; and the operations per group commit.
func reportStore(b *testing.B, s *sqlite.Store, before sqlite.Stats, cpu time.Duration) {
	after := s.Stats()
	reportOps(b)
	b.ReportMetric(float64((after.Busy-before.Busy).Microseconds())/float64(b.N), "writer-us/send")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/send")
	b.ReportMetric(float64(after.Ops-before.Ops)/float64(after.Batches-before.Batches), "ops/group")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
