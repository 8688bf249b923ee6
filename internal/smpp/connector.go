package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smsenc"
)

var _ sms.Connector = (*Connector)(nil)

// Handler takes what the SMSC sends: receipts and mobile-originated
// messages. The deliver_sm carrying them is acknowledged only after the
// handler returned nil; on an error the SMSC gets ESME_RX_T_APPN and sends
// it again later.
type Handler interface {
	HandleReceipt(ctx context.Context, r sms.Receipt) error
	HandleInbound(ctx context.Context, m sms.Inbound) error
}

// Connector sends through one SMSC account over one or more binds.
type Connector struct {
	cfg     Config
	log     *slog.Logger
	handler Handler

	binds []*bind
	next  atomic.Uint32 // round robin over binds
	// delivers holds a token per deliver_sm being stored (receipts and
	// inbound messages are stored off the read loop, up to this many).
	delivers chan struct{}
	bucket   *bucket

	metrics     *Metrics // nil: none (Instrument)
	submitTimes submitTimes

	throttleMu    sync.Mutex
	throttleUntil time.Time
	throttleStep  time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	up     chan struct{} // closed and replaced whenever a bind comes up
	upMu   sync.Mutex
}

// New returns a connector; Start binds it.
func New(cfg Config, handler Handler, log *slog.Logger) (*Connector, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Connector{cfg: cfg, handler: handler, log: log.With("connector", cfg.Name), up: make(chan struct{}),
		delivers: make(chan struct{}, MaxPendingDelivers)}
	if cfg.TPS > 0 {
		c.bucket = newBucket(cfg.TPS)
	}
	for i := range cfg.Binds {
		c.binds = append(c.binds, newBind(c, i))
	}
	return c, nil
}

// Name is the connector's name.
func (c *Connector) Name() string { return c.cfg.Name }

// Start binds in the background and keeps the binds up (re-binding with
// backoff) until Stop.
func (c *Connector) Start(ctx context.Context) {
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, b := range c.binds {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			b.keepUp(c.ctx)
		}()
	}
}

// Stop waits for submits in flight (up to their response timeout), unbinds
// and closes every bind. It is safe to call twice.
func (c *Connector) Stop() {
	if c.cancel == nil {
		return
	}
	for _, b := range c.binds {
		b.drain(c.cfg.ResponseTimeout)
	}
	c.cancel()
	c.wg.Wait()
}

// Healthy reports whether at least one bind is up.
func (c *Connector) Healthy() bool {
	for _, b := range c.binds {
		if b.isUp() {
			return true
		}
	}
	return false
}

func (c *Connector) notifyUp() {
	c.upMu.Lock()
	close(c.up)
	c.up = make(chan struct{})
	c.upMu.Unlock()
}

// pick returns a bind that is up, or nil.
func (c *Connector) pick() *bind {
	n := uint32(len(c.binds))
	start := c.next.Add(1)
	for i := range n {
		if b := c.binds[(start+i)%n]; b.isUp() {
			return b
		}
	}
	return nil
}

// ErrNotBound is returned (as a transient error) when no bind is up.
var ErrNotBound = errors.New("smpp: no bind is up")

// Send submits m, split into parts as needed, and returns the SMSC's message
// ids (one per part, comma-separated). Errors are transient unless the SMSC
// refused the message for good (sms.Permanent).
func (c *Connector) Send(ctx context.Context, m sms.Message) (string, error) {
	parts, enc, err := c.encode(m.Body)
	if err != nil {
		return "", sms.Permanent(0, err)
	}
	src, err := c.sourceAddr(m.From)
	if err != nil {
		return "", sms.Permanent(0, err)
	}
	dst, err := pdu.NewAddressWithTonNpiAddr(1, 1, trimPlus(m.To))
	if err != nil {
		return "", sms.Permanent(0, fmt.Errorf("destination %s: %v", phone.Mask(m.To), err))
	}
	ids := make([]byte, 0, 16*len(parts))
	for i, p := range parts {
		id, err := c.submitPart(ctx, src, dst, enc, p, len(parts), i)
		if err != nil {
			return "", err
		}
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = append(ids, id...)
	}
	return string(ids), nil
}

// part is one submit_sm's user data: the payload and, for UDH, its header.
type part struct {
	udh     []byte
	payload []byte
	ref     uint16
}

func (c *Connector) encode(body string) ([]part, smsenc.Encoding, error) {
	enc := smsenc.Analyze(body).Encoding
	if c.cfg.Split == "payload" {
		b, err := smsenc.Encode(body, enc)
		if err != nil {
			return nil, enc, err
		}
		return []part{{payload: b}}, enc, nil
	}
	pieces, err := smsenc.Split(body, enc, smsenc.SplitOptions{})
	if err != nil {
		return nil, enc, err
	}
	if len(pieces) > smsenc.MaxParts {
		return nil, enc, fmt.Errorf("the message needs %d parts; at most %d can be concatenated", len(pieces), smsenc.MaxParts)
	}
	ref := uint16(rand.IntN(256))
	out := make([]part, len(pieces))
	for i, p := range pieces {
		out[i] = part{payload: p.Payload, ref: ref}
		if len(pieces) > 1 && c.cfg.Split == "udh" {
			out[i].udh = smsenc.UDH(ref, len(pieces), i+1, false)
		}
	}
	return out, enc, nil
}

func (c *Connector) sourceAddr(from string) (pdu.Address, error) {
	ton, npi, addr := 5, 0, from
	switch {
	case len(from) > 0 && from[0] == '+':
		ton, npi, addr = 1, 1, from[1:]
	case isDigits(from):
		ton, npi = 3, 0
	}
	if c.cfg.SourceTON >= 0 {
		ton = c.cfg.SourceTON
	}
	if c.cfg.SourceNPI >= 0 {
		npi = c.cfg.SourceNPI
	}
	a, err := pdu.NewAddressWithTonNpiAddr(byte(ton), byte(npi), addr)
	if err != nil {
		return a, fmt.Errorf("sender %q: %v", from, err)
	}
	return a, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func trimPlus(s string) string {
	if len(s) > 0 && s[0] == '+' {
		return s[1:]
	}
	return s
}

// submitPart sends one part, waiting out throttling, until the SMSC takes it,
// refuses it for good, or ctx ends.
func (c *Connector) submitPart(ctx context.Context, src, dst pdu.Address, enc smsenc.Encoding, p part, total, idx int) (string, error) {
	for {
		if err := c.waitThrottle(ctx); err != nil {
			return "", err
		}
		if c.bucket != nil {
			if err := c.bucket.wait(ctx); err != nil {
				return "", err
			}
		}
		b := c.pick()
		if b == nil {
			if err := c.waitUp(ctx); err != nil {
				return "", err
			}
			continue
		}
		sm := c.buildSubmit(src, dst, enc, p, total, idx)
		resp, err := b.submit(ctx, sm)
		if err != nil {
			return "", err // transient: bind lost, timeout, ctx
		}
		status := resp.CommandStatus
		c.metrics.submitted(c, status, resp.MessageID, time.Now())
		switch status {
		case data.ESME_ROK:
			c.relax()
			return resp.MessageID, nil
		case data.ESME_RTHROTTLED, data.ESME_RMSGQFUL:
			c.throttled()
			continue
		}
		if transientStatus[status] {
			return "", fmt.Errorf("smsc answered %s (0x%02X)", status, uint32(status))
		}
		return "", sms.Permanent(int(status), fmt.Errorf("smsc refused the message: %s (0x%02X)", status, uint32(status)))
	}
}

// transientStatus are submit_sm_resp errors worth retrying later.
var transientStatus = map[data.CommandStatusType]bool{
	data.ESME_RSYSERR:          true,
	data.ESME_RSUBMITFAIL:      true,
	data.ESME_RX_T_APPN:        true,
	data.ESME_RDELIVERYFAILURE: true,
	data.ESME_RUNKNOWNERR:      true,
}

func (c *Connector) buildSubmit(src, dst pdu.Address, enc smsenc.Encoding, p part, total, idx int) *pdu.SubmitSM {
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	sm.ServiceType = c.cfg.SystemType
	sm.SourceAddr = src
	sm.DestAddr = dst
	sm.RegisteredDelivery = 1
	var coding data.Encoding = data.GSM7BIT
	if enc == smsenc.UCS2 {
		coding = data.UCS2
	}
	userData := p.payload
	if p.udh != nil {
		sm.EsmClass |= data.SM_UDH_GSM
		userData = append(append(make([]byte, 0, len(p.udh)+len(p.payload)), p.udh...), p.payload...)
	}
	if c.cfg.Split == "payload" {
		sm.Message.SetMessageDataWithEncoding(nil, coding)
		sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: userData})
		return sm
	}
	sm.Message.SetMessageDataWithEncoding(userData, coding)
	if total > 1 && c.cfg.Split == "sar" {
		sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarMsgRefNum, Data: []byte{byte(p.ref >> 8), byte(p.ref)}})
		sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarTotalSegments, Data: []byte{byte(total)}})
		sm.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarSegmentSeqnum, Data: []byte{byte(idx + 1)}})
	}
	return sm
}

// throttled slows every send down: the SMSC said it gets too much.
func (c *Connector) throttled() {
	c.throttleMu.Lock()
	defer c.throttleMu.Unlock()
	if time.Now().Before(c.throttleUntil) {
		return // already pausing: the other submits in flight were answered the same
	}
	if c.throttleStep == 0 {
		c.throttleStep = 100 * time.Millisecond
	} else {
		c.throttleStep = min(2*c.throttleStep, 5*time.Second)
	}
	until := time.Now().Add(c.throttleStep)
	if until.After(c.throttleUntil) {
		c.throttleUntil = until
	}
	c.log.Warn("smsc throttled; pausing submits", "pause", c.throttleStep)
}

func (c *Connector) relax() {
	c.throttleMu.Lock()
	if c.throttleStep > 0 && time.Now().After(c.throttleUntil) {
		c.throttleStep /= 2
		if c.throttleStep < 100*time.Millisecond {
			c.throttleStep = 0
		}
	}
	c.throttleMu.Unlock()
}

func (c *Connector) waitThrottle(ctx context.Context) error {
	c.throttleMu.Lock()
	d := time.Until(c.throttleUntil)
	c.throttleMu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Connector) waitUp(ctx context.Context) error {
	c.upMu.Lock()
	up := c.up
	c.upMu.Unlock()
	if c.Healthy() {
		return nil
	}
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrNotBound, ctx.Err())
	}
}

// bucket is a token bucket allowing rate submits per second, with a burst of
// one tenth of a second's worth.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(tps int) *bucket {
	burst := max(1, float64(tps)/10)
	return &bucket{rate: float64(tps), burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		now := time.Now()
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			b.mu.Unlock()
			return nil
		}
		need := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
		b.mu.Unlock()
		t := time.NewTimer(need)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// TPS is the connector's submit_sm per second limit; 0 for none.
func (c *Connector) TPS() int { return c.cfg.TPS }
