package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/smscsim"
)

// SMSC is an SMPP SMSC (internal/smscsim) running inside the load
// generator. The otpgate under test delivers to it, so a run can match every
// submit_sm with the send request it came from (each send goes to a fresh
// number) and report what users care about: sends accepted, handed to the
// SMSC and delivered, the backlog in between, and the time from request to
// submit_sm.
type SMSC struct {
	sim          *smscsim.Server
	addr         net.Addr
	receiptDelay time.Duration
	tr           *tracker
}

// SMSCConfig configures StartSMSC.
type SMSCConfig struct {
	// Addr is the address to listen on ("127.0.0.1:0" for any port).
	Addr string
	// ReceiptDelay is the wait between a submit_sm and its delivery receipt
	// (default 100ms, like otpgate smsc-sim).
	ReceiptDelay time.Duration
	// SystemID and Password, when set, must match a bind's.
	SystemID, Password string
}

// DefaultReceiptDelay is the embedded SMSC's default receipt delay.
const DefaultReceiptDelay = 100 * time.Millisecond

// StartSMSC starts an SMSC on cfg.Addr for Config.SMSC. Close it when done.
func StartSMSC(cfg SMSCConfig) (*SMSC, error) {
	if cfg.ReceiptDelay == 0 {
		cfg.ReceiptDelay = DefaultReceiptDelay
	}
	if cfg.ReceiptDelay < 0 {
		return nil, errors.New("loadgen: negative receipt delay")
	}
	tr := newTracker(time.Now())
	sim := smscsim.New(smscsim.Config{
		SystemID: cfg.SystemID, Password: cfg.Password, ReceiptDelay: cfg.ReceiptDelay, Observer: tr,
	})
	addr, err := sim.Start(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("loadgen: SMSC: %w", err)
	}
	return &SMSC{sim: sim, addr: addr, receiptDelay: cfg.ReceiptDelay, tr: tr}, nil
}

// Addr is the address the SMSC listens on.
func (s *SMSC) Addr() net.Addr { return s.addr }

// Binds returns how many binds succeeded so far.
func (s *SMSC) Binds() int64 { return s.sim.Binds() }

// WaitBind waits until an ESME has bound, or ctx ends.
func (s *SMSC) WaitBind(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.sim.Binds() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadgen: no bind at the SMSC on %s: %w", s.addr, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Close stops the SMSC. Safe to call twice.
func (s *SMSC) Close() error { return s.sim.Close() }

// offset turns a time into the tracker's clock.
func (s *SMSC) offset(t time.Time) time.Duration { return t.Sub(s.tr.base) }

// sendRec is one send request as a worker saw it, times on the tracker's
// clock. status is 0 when the request got no answer.
type sendRec struct {
	n              uint32
	status         int32
	sent, answered time.Duration
}

// receiptRec is one answer to a delivery receipt.
type receiptRec struct {
	n       uint32
	at      time.Duration
	ok      bool // ESME_ROK: the receipt was stored
	foreign bool // not for a +96279 number
}

// tracker records what the SMSC sees, as smscsim.Observer, for matching
// with the requests when the send phase is over. Times are offsets from base
// on the monotonic clock.
type tracker struct {
	base time.Time

	mu         sync.Mutex
	submits    map[uint32]time.Duration // first submit_sm per number
	submitted  int64                    // accepted submit_sm, all of them
	extra      int64                    // further submit_sm to a number already seen
	foreign    int64                    // submit_sm to other than +96279 and 7 digits
	receipts   []receiptRec
	receiptsOK int64
}

var _ smscsim.Observer = (*tracker)(nil)

func newTracker(base time.Time) *tracker {
	return &tracker{base: base, submits: map[uint32]time.Duration{}}
}

// reset forgets everything seen so far.
func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.submits)
	t.submitted, t.extra, t.foreign, t.receiptsOK = 0, 0, 0, 0
	t.receipts = nil
}

// Submitted implements smscsim.Observer.
func (t *tracker) Submitted(dest string, at time.Time) {
	n, ok := benchNumber(dest)
	off := at.Sub(t.base)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.submitted++
	switch {
	case !ok:
		t.foreign++
	default:
		if _, seen := t.submits[n]; seen {
			t.extra++
			return
		}
		t.submits[n] = off
	}
}

// ReceiptAnswered implements smscsim.Observer.
func (t *tracker) ReceiptAnswered(dest string, status uint32, at time.Time) {
	n, ok := benchNumber(dest)
	rec := receiptRec{n: n, at: at.Sub(t.base), ok: status == 0, foreign: !ok}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.receipts = append(t.receipts, rec)
	if rec.ok {
		t.receiptsOK++
	}
}

// missing returns the numbers of nums that no submit_sm went to yet.
func (t *tracker) missing(nums []uint32) []uint32 {
	var left []uint32
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range nums {
		if _, ok := t.submits[n]; !ok {
			left = append(left, n)
		}
	}
	return left
}

// receiptsDue reports whether some accepted submit_sm still await a receipt
// acknowledged with ESME_ROK.
func (t *tracker) receiptsDue() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.receiptsOK < t.submitted
}

// benchNumber returns the seven digits after +96279 of a destination the
// generator sent to, given as "962791234567", "+962791234567",
// "00962791234567" or "0791234567".
func benchNumber(dest string) (uint32, bool) {
	switch {
	case len(dest) == 13 && dest[:6] == "+96279":
		dest = dest[6:]
	case len(dest) == 12 && dest[:5] == "96279":
		dest = dest[5:]
	case len(dest) == 14 && dest[:7] == "0096279":
		dest = dest[7:]
	case len(dest) == 10 && dest[:3] == "079":
		dest = dest[3:]
	default:
		return 0, false
	}
	var n uint32
	for i := range len(dest) {
		c := dest[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint32(c-'0')
	}
	return n, true
}

// drain waits, after a send phase whose 201s went to accepted, until every
// accepted send has reached the SMSC or timeout has passed, then (at most
// the receipt delay and 5s more) until every submit_sm's receipt was
// acknowledged. It returns the numbers still missing.
func (s *SMSC) drain(ctx context.Context, accepted []uint32, timeout time.Duration) []uint32 {
	const poll = 20 * time.Millisecond
	left := s.tr.missing(accepted)
	deadline := time.Now().Add(timeout)
	for len(left) > 0 && time.Now().Before(deadline) && sleepCtx(ctx, poll) {
		left = s.tr.missing(left)
	}
	if len(left) > 0 {
		return left
	}
	deadline = time.Now().Add(s.receiptDelay + 5*time.Second)
	for s.tr.receiptsDue() && time.Now().Before(deadline) && sleepCtx(ctx, poll) {
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
