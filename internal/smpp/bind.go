package smpp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/otpgate/otpgate/internal/dlr"
	"github.com/otpgate/otpgate/internal/latency"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smsenc"
)

// bind is one SMPP session (or a transmitter/receiver pair) with its own
// window of outstanding submit_sm. gosmpp reads and writes PDUs; the window,
// the pairing of responses with requests and the re-binding are ours (the
// library's window drops a PDU when full and can miss a fast response).
type bind struct {
	c   *Connector
	idx int

	window chan struct{} // one token per outstanding submit_sm

	mu      sync.Mutex
	tx, rx  *gosmpp.Session
	up      bool
	lost    chan struct{} // closed when the current session goes down
	pending map[int32]chan *pdu.SubmitSMResp

	inflight sync.WaitGroup
	draining atomic.Bool
}

func newBind(c *Connector, idx int) *bind {
	return &bind{c: c, idx: idx, window: make(chan struct{}, c.cfg.Window), pending: map[int32]chan *pdu.SubmitSMResp{}}
}

func (b *bind) isUp() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up && !b.draining.Load()
}

// keepUp binds, and binds again with backoff whenever the session is lost,
// until ctx ends; then it unbinds.
func (b *bind) keepUp(ctx context.Context) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		lost, err := b.connect(ctx)
		if err != nil {
			b.c.log.Warn("smpp bind failed", "bind", b.idx, "addr", b.c.cfg.Addr, "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = 500 * time.Millisecond
		b.c.log.Info("smpp bound", "bind", b.idx, "addr", b.c.cfg.Addr, "system_id", b.c.cfg.SystemID, "type", b.c.cfg.Bind)
		b.c.notifyUp()
		select {
		case <-ctx.Done():
			b.close()
			return
		case <-lost:
			b.c.log.Warn("smpp bind lost; binding again", "bind", b.idx)
			b.close()
		}
	}
}

func (b *bind) connect(ctx context.Context) (<-chan struct{}, error) {
	cfg := b.c.cfg
	lost := make(chan struct{})
	var once sync.Once
	onLost := func() { once.Do(func() { close(lost) }) }
	// Each session answers the deliver_sm it reads on its own connection,
	// later, from the goroutine that stored it; gosmpp may hand over a PDU
	// before NewSession has returned the session, so the answer waits for it.
	settings := func(s *sessionRef) gosmpp.Settings {
		return gosmpp.Settings{
			ReadTimeout: cfg.ReadTimeout,
			// No WriteTimeout: gosmpp's writes only queue (batchWriter),
			// which times each of its writes (writeTimeout).
			EnquireLink: cfg.EnquireLink,
			OnAllPDU:    func(p pdu.PDU) (pdu.PDU, bool) { return b.onPDU(p, s) },
			OnSubmitError: func(p pdu.PDU, err error) {
				b.fail(p.GetSequenceNumber())
			},
			OnReceivingError: func(err error) { onLost() },
			OnClosed:         func(gosmpp.State) { onLost() },
		}
	}
	txRef, rxRef := newSessionRef(), newSessionRef()
	var tx, rx *gosmpp.Session
	var err error
	if cfg.Bind == "txrx" {
		tx, err = gosmpp.NewSession(binder{ctx, cfg, pdu.Transmitter}, settings(txRef), 0)
		if err == nil {
			rx, err = gosmpp.NewSession(binder{ctx, cfg, pdu.Receiver}, settings(rxRef), 0)
			if err != nil {
				tx.Close()
			}
		}
	} else {
		tx, err = gosmpp.NewSession(binder{ctx, cfg, pdu.Transceiver}, settings(txRef), 0)
	}
	txRef.set(tx)
	rxRef.set(rx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.tx, b.rx, b.up, b.lost = tx, rx, true, lost
	b.mu.Unlock()
	return lost, nil
}

// binder binds as gosmpp's own connectors do, but reads the answer itself
// (probeBind): gosmpp cannot parse a refusal that carries no body, as SMPP
// 3.4 section 4.1.2 says it should be sent, and reports EOF, so a wrong
// password would read like a dropped connection. With it the log says
// "refused the bind_transceiver as system_id X: invalid password
// (ESME_RINVPASWD, 0x0000000E)".
type binder struct {
	ctx  context.Context // the connector's: Stop ends a bind in progress
	cfg  Config
	kind pdu.BindingType
}

// bindTimeout is how long connecting and binding may take.
const bindTimeout = 15 * time.Second

// writeTimeout is how long one write to the SMSC may take before the bind
// is given up as lost.
const writeTimeout = 10 * time.Second

func (b binder) GetBindType() pdu.BindingType { return b.kind }

func (b binder) Connect() (*gosmpp.Connection, error) {
	c, err := probeBind(b.ctx, b.cfg, b.kind, bindTimeout)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil { // the session sets its own
		c.Close()
		return nil, err
	}
	return c, nil
}

// close ends the session: every submit still waiting hears that the bind is
// gone (its message is retried; the SMSC may have taken it).
func (b *bind) close() {
	b.mu.Lock()
	tx, rx := b.tx, b.rx
	b.tx, b.rx, b.up = nil, nil, false
	pending := b.pending
	b.pending = map[int32]chan *pdu.SubmitSMResp{}
	b.mu.Unlock()
	for _, ch := range pending {
		close(ch)
	}
	if tx != nil {
		tx.Close() // gosmpp sends unbind when it can
	}
	if rx != nil {
		rx.Close()
	}
}

// drain stops taking submits and waits up to timeout for those in flight.
func (b *bind) drain(timeout time.Duration) {
	b.draining.Store(true)
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

var errBindLost = errors.New("smpp: the bind was lost before the SMSC answered; the message will be sent again (the SMSC may already have it)")

// submit sends sm on this bind and waits for its response. It blocks while
// the window is full (it never drops a message).
func (b *bind) submit(ctx context.Context, sm *pdu.SubmitSM) (*pdu.SubmitSMResp, error) {
	select {
	case b.window <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-b.window }()
	b.inflight.Add(1)
	defer b.inflight.Done()

	ch := make(chan *pdu.SubmitSMResp, 1)
	seq := sm.GetSequenceNumber()
	b.mu.Lock()
	tx, up := b.tx, b.up
	if up {
		b.pending[seq] = ch
	}
	b.mu.Unlock()
	if !up || tx == nil {
		return nil, errBindLost
	}
	span := latency.From(ctx)
	span.Mark(latency.Connector)
	if err := tx.Transmitter().Submit(sm); err != nil {
		b.forget(seq)
		return nil, fmt.Errorf("smpp: submit: %w", err)
	}
	t := time.NewTimer(b.c.cfg.ResponseTimeout)
	defer t.Stop()
	select {
	case resp, ok := <-ch:
		if !ok || resp == nil {
			return nil, errBindLost
		}
		span.Mark(latency.SubmitResp)
		return resp, nil
	case <-t.C:
		b.forget(seq)
		return nil, fmt.Errorf("smpp: no submit_sm_resp within %s (the SMSC may already have the message)", b.c.cfg.ResponseTimeout)
	case <-ctx.Done():
		b.forget(seq)
		return nil, ctx.Err()
	}
}

func (b *bind) forget(seq int32) {
	b.mu.Lock()
	delete(b.pending, seq)
	b.mu.Unlock()
}

// fail ends a pending submit whose PDU could not be written.
func (b *bind) fail(seq int32) {
	b.mu.Lock()
	ch, ok := b.pending[seq]
	delete(b.pending, seq)
	b.mu.Unlock()
	if ok {
		close(ch)
	}
}

// sessionRef is the session a PDU arrived on, known once NewSession returned.
type sessionRef struct {
	ready chan struct{}
	s     *gosmpp.Session
}

func newSessionRef() *sessionRef { return &sessionRef{ready: make(chan struct{})} }

func (r *sessionRef) set(s *gosmpp.Session) {
	r.s = s
	close(r.ready)
}

// reply writes p on the session; a session that is gone drops it (the SMSC
// sends an unanswered deliver_sm again).
func (r *sessionRef) reply(p pdu.PDU) {
	<-r.ready
	if r.s != nil {
		_ = r.s.Transmitter().Submit(p)
	}
}

// onPDU handles every PDU the SMSC sends on session s; what it returns
// gosmpp writes back at once.
func (b *bind) onPDU(p pdu.PDU, s *sessionRef) (pdu.PDU, bool) {
	switch pp := p.(type) {
	case *pdu.SubmitSMResp:
		b.mu.Lock()
		ch, ok := b.pending[pp.GetSequenceNumber()]
		delete(b.pending, pp.GetSequenceNumber())
		b.mu.Unlock()
		if ok {
			ch <- pp
		}
		return nil, false
	case *pdu.GenericNack:
		resp := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
		resp.CommandStatus = pp.CommandStatus
		resp.SequenceNumber = pp.SequenceNumber
		b.mu.Lock()
		ch, ok := b.pending[pp.GetSequenceNumber()]
		delete(b.pending, pp.GetSequenceNumber())
		b.mu.Unlock()
		if ok {
			if resp.CommandStatus == data.ESME_ROK {
				resp.CommandStatus = data.ESME_RUNKNOWNERR
			}
			ch <- resp
		}
		return nil, false
	case *pdu.EnquireLink:
		return pp.GetResponse(), false
	case *pdu.Unbind:
		return pp.GetResponse(), true
	case *pdu.DeliverSM:
		// Stored off the read loop: the submit_sm_resp behind this PDU on
		// the same connection must not wait for the store. Many receipts
		// are then stored in one group commit; each is answered once stored.
		// At most MaxPendingDelivers wait: beyond, reading waits (the SMSC
		// holds back).
		b.c.delivers <- struct{}{}
		go func() {
			defer func() { <-b.c.delivers }()
			s.reply(b.onDeliver(pp))
		}()
		return nil, false
	case *pdu.EnquireLinkResp, *pdu.UnbindResp:
		return nil, false
	default:
		if p.CanResponse() {
			r := pdu.NewGenericNack()
			r.SetSequenceNumber(p.GetSequenceNumber())
			return r, false
		}
		return nil, false
	}
}

// onDeliver stores what a deliver_sm carries, then answers it: ESME_ROK once
// stored, ESME_RX_T_APPN (try again later) when storing failed.
func (b *bind) onDeliver(d *pdu.DeliverSM) pdu.PDU {
	resp := d.GetResponse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if d.EsmClass&0x3C == 0x04 || d.EsmClass&0x3C == 0x08 {
		err = b.onReceipt(ctx, d)
	} else {
		err = b.onInbound(ctx, d)
	}
	if err != nil {
		b.c.log.Warn("deliver_sm not stored; asking the SMSC to send it again", "err", err)
		resp.(*pdu.DeliverSMResp).CommandStatus = data.ESME_RX_T_APPN
	}
	return resp
}

func (b *bind) onReceipt(ctx context.Context, d *pdu.DeliverSM) error {
	var r dlr.Receipt
	ok := false
	if id, has := d.OptionalParameters[pdu.TagReceiptedMessageID]; has {
		st := d.OptionalParameters[pdu.TagMessageStateOption]
		ne := d.OptionalParameters[pdu.TagNetworkErrorCode]
		r, ok = dlr.FromTLVs(id.Data, st.Data, ne.Data)
	}
	text, _ := d.Message.GetMessageData()
	if !ok {
		var err error
		if r, err = dlr.ParseText(string(text)); err != nil {
			b.c.metrics.receipt(b.c, "unreadable", "", time.Now())
			b.c.log.Warn("delivery receipt not understood; acknowledged and dropped", "err", err)
			return nil // an unreadable receipt will not read better next time
		}
	} else if r.Err == 0 {
		// The TLVs carry no error code unless network_error_code is there;
		// the text form's err: often is.
		if tr, err := dlr.ParseText(string(text)); err == nil {
			r.Err = tr.Err
		}
	}
	rc := sms.Receipt{Connector: b.c.cfg.Name, ProviderID: r.ID, Status: message.Status(r.State.Status()), ErrorCode: r.Err, At: time.Now()}
	if rc.Status != "" && rc.Status != message.Delivered {
		rc.ErrorMessage = "the operator reported " + r.State.String()
	}
	if b.c.handler != nil {
		if err := b.c.handler.HandleReceipt(ctx, rc); err != nil {
			return err // not counted: the SMSC sends it again
		}
	}
	b.c.metrics.receipt(b.c, string(rc.Status), r.ID, rc.At)
	return nil
}

func (b *bind) onInbound(ctx context.Context, d *pdu.DeliverSM) error {
	raw, _ := d.Message.GetMessageData()
	in := sms.Inbound{Connector: b.c.cfg.Name, From: d.SourceAddr.Address(), To: d.DestAddr.Address(), ReceivedAt: time.Now(), Total: 1, Seq: 1}
	if d.SourceAddr.Ton() == 1 {
		in.From = "+" + in.From
	}
	if udh := d.Message.UDH(); udh != nil {
		// gosmpp split the UDH off already; read the concatenation from it.
		if total, seq, ref, found := udh.GetConcatInfo(); found {
			in.Total, in.Seq, in.Ref = int(total), int(seq), uint16(ref)
		}
	} else if ref, total, seq, hl, ok := smsenc.ParseUDH(raw); ok && d.EsmClass&0x40 != 0 {
		in.Total, in.Seq, in.Ref = total, seq, ref
		raw = raw[hl:]
	}
	if v, ok := d.OptionalParameters[pdu.TagSarMsgRefNum]; ok && len(v.Data) == 2 {
		in.Ref = uint16(v.Data[0])<<8 | uint16(v.Data[1])
		if t, ok := d.OptionalParameters[pdu.TagSarTotalSegments]; ok && len(t.Data) == 1 {
			in.Total = int(t.Data[0])
		}
		if s, ok := d.OptionalParameters[pdu.TagSarSegmentSeqnum]; ok && len(s.Data) == 1 {
			in.Seq = int(s.Data[0])
		}
	}
	if v, ok := d.OptionalParameters[pdu.TagMessagePayload]; ok && len(raw) == 0 {
		raw = v.Data
	}
	coding := byte(0)
	if e := d.Message.Encoding(); e != nil {
		coding = e.DataCoding()
	}
	text, err := smsenc.DecodeDataCoding(raw, coding)
	if err != nil {
		b.c.log.Warn("inbound message in an encoding otpgate cannot read; acknowledged and dropped", "err", err)
		return nil
	}
	in.Text = text
	if b.c.handler == nil {
		return nil
	}
	return b.c.handler.HandleInbound(ctx, in)
}
