package smscsim

import (
	"container/heap"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

const (
	// receiptWindow caps unacknowledged receipts per bind; more wait queued.
	receiptWindow = 256
	// retryDelay is the wait before resending a receipt the ESME refused
	// (deliver_sm_resp with an error status, or generic_nack).
	retryDelay = time.Second
	// maxPending caps receipts waiting for a receiver, per system_id; the
	// oldest are dropped beyond it.
	maxPending = 1_000_000
)

// stat is one final message state a receipt can report.
type stat struct {
	name  string
	state byte   // message_state TLV value
	err   string // err: field of the text form
	dlvrd string // dlvrd: field of the text form
}

var stats = map[string]stat{
	"DELIVRD": {"DELIVRD", 2, "000", "001"},
	"EXPIRED": {"EXPIRED", 3, "002", "000"},
	"DELETED": {"DELETED", 4, "003", "000"},
	"UNDELIV": {"UNDELIV", 5, "001", "000"},
	"ACCEPTD": {"ACCEPTD", 6, "000", "000"},
	"UNKNOWN": {"UNKNOWN", 7, "004", "000"},
	"REJECTD": {"REJECTD", 8, "005", "000"},
}

// outcomeMix picks outcomes in exact proportion to their weights, in a
// deterministic order (smooth weighted round robin), so small tests see the
// mix they asked for.
type outcomeMix struct {
	stats   []stat
	weights []float64
	current []float64
	total   float64
}

func newOutcomeMix(m map[string]float64) (*outcomeMix, error) {
	if len(m) == 0 {
		m = map[string]float64{"DELIVRD": 1}
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	o := &outcomeMix{}
	for _, k := range names {
		st, ok := stats[k]
		if !ok {
			return nil, fmt.Errorf("smscsim: unknown receipt outcome %q", k)
		}
		w := m[k]
		if w < 0 || w != w {
			return nil, fmt.Errorf("smscsim: outcome %q has invalid weight %v", k, w)
		}
		if w == 0 {
			continue
		}
		o.stats = append(o.stats, st)
		o.weights = append(o.weights, w)
		o.total += w
	}
	if o.total == 0 {
		return nil, fmt.Errorf("smscsim: outcome weights sum to zero")
	}
	o.current = make([]float64, len(o.weights))
	return o, nil
}

func (o *outcomeMix) next() stat {
	best := 0
	for i, w := range o.weights {
		o.current[i] += w
		if o.current[i] > o.current[best] {
			best = i
		}
	}
	o.current[best] -= o.total
	return o.stats[best]
}

// receipt is a delivery receipt owed for one accepted submit_sm.
type receipt struct {
	id       uint64
	sys      string   // system_id of the submitting bind
	origin   *session // the submitting bind if a transceiver: receipts go back on it
	raw      []byte   // the submit_sm body, shared with the stored record
	rd       byte     // registered_delivery
	submitAt time.Time
	due      time.Time
	stat     *stat // chosen when first due
}

// wanted reports whether registered_delivery asks for a receipt with this
// outcome: bit 0 for any outcome, value 2 for failures only.
func wanted(rd byte, st stat) bool {
	switch rd & 0x03 {
	case 1:
		return true
	case 2:
		return st.name != "DELIVRD"
	}
	return false
}

func asksReceipt(rd byte) bool { return rd&0x03 == 1 || rd&0x03 == 2 }

type dueHeap []*receipt

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].id < h[j].id
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(*receipt)) }
func (h *dueHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// queue is a FIFO of receipts.
type queue struct {
	items []*receipt
	head  int
}

func (q *queue) len() int { return len(q.items) - q.head }
func (q *queue) peek() *receipt {
	return q.items[q.head]
}
func (q *queue) pop() *receipt {
	r := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return r
}
func (q *queue) push(r *receipt) {
	if q.head > 0 && q.head >= len(q.items)/2 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, r)
}

// pushFront puts rs, in order, ahead of everything queued.
func (q *queue) pushFront(rs []*receipt) {
	items := make([]*receipt, 0, len(rs)+q.len())
	items = append(items, rs...)
	items = append(items, q.items[q.head:]...)
	q.items, q.head = items, 0
}

// pump owns every receipt from the moment its submit_sm is accepted until a
// receiver acknowledges it. One goroutine for the whole server: readers hand
// receipts over in batches, the pump waits out ReceiptDelay, picks the
// outcome and hands each receipt to a bind's send buffer; it never touches
// the network itself, so a stalled client cannot stall other binds.
type pump struct {
	srv   *Server
	mix   *outcomeMix
	delay time.Duration

	kick chan struct{}
	done chan struct{}

	mu      sync.Mutex
	intake  []*receipt // new or retried receipts, each with its due time
	requeue []*receipt // unacknowledged when their bind closed: resend first

	// owned by the pump goroutine
	delayed dueHeap
	pending map[string]*queue
	spare   []*receipt
	scratch []*session
}

func newPump(srv *Server, mix *outcomeMix, delay time.Duration) *pump {
	p := &pump{
		srv:     srv,
		mix:     mix,
		delay:   delay,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: make(map[string]*queue),
	}
	return p
}

func (p *pump) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// add takes new receipts from a reader's batch.
func (p *pump) add(rs []*receipt) {
	p.mu.Lock()
	p.intake = append(p.intake, rs...)
	p.mu.Unlock()
	p.wake()
}

// retry takes back a receipt the ESME refused.
func (p *pump) retry(r *receipt) {
	r.due = time.Now().Add(retryDelay)
	p.mu.Lock()
	p.intake = append(p.intake, r)
	p.mu.Unlock()
	p.wake()
}

// giveBack takes receipts left unacknowledged by a closed bind.
func (p *pump) giveBack(rs []*receipt) {
	if len(rs) == 0 {
		return
	}
	p.mu.Lock()
	p.requeue = append(p.requeue, rs...)
	p.mu.Unlock()
	p.wake()
}

func (p *pump) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		in, back := p.intake, p.requeue
		p.intake, p.requeue = p.spare[:0], nil
		p.mu.Unlock()

		for _, r := range in {
			heap.Push(&p.delayed, r)
		}
		clear(in)
		p.spare = in[:0]
		if len(back) > 0 {
			bySys := map[string][]*receipt{}
			for _, r := range back {
				bySys[r.sys] = append(bySys[r.sys], r)
			}
			for sys, rs := range bySys {
				p.queueFor(sys).pushFront(rs)
			}
		}

		now := time.Now()
		for len(p.delayed) > 0 && !p.delayed[0].due.After(now) {
			r := heap.Pop(&p.delayed).(*receipt)
			if r.stat == nil {
				st := p.mix.next()
				if !wanted(r.rd, st) {
					continue
				}
				r.stat = &st
			}
			q := p.queueFor(r.sys)
			if q.len() >= maxPending {
				q.pop()
			}
			q.push(r)
		}
		p.route(now)

		wait := time.Hour
		if len(p.delayed) > 0 {
			wait = p.delayed[0].due.Sub(now)
		}
		timer.Reset(wait)
		select {
		case <-p.kick:
		case <-timer.C:
		case <-p.done:
			return
		}
	}
}

func (p *pump) queueFor(sys string) *queue {
	q := p.pending[sys]
	if q == nil {
		q = &queue{}
		p.pending[sys] = q
	}
	return q
}

// route hands ready receipts to binds. A receipt goes back on the bind that
// submitted it when that is a live transceiver, otherwise to any receiver or
// transceiver bound with the same system_id. Order is kept: routing for a
// system_id stops at the first receipt no bind can take now.
func (p *pump) route(now time.Time) {
	for sys, q := range p.pending {
		if q.len() == 0 {
			continue
		}
		p.scratch = p.srv.receiversFor(sys, p.scratch[:0])
		if len(p.scratch) == 0 {
			continue
		}
		next := 0
		for q.len() > 0 {
			r := q.peek()
			if r.origin != nil && !r.origin.canReceive() {
				r.origin = nil // gone or a transmitter: any receiver will do
			}
			sent := false
			if r.origin != nil {
				sent = r.origin.sendReceipt(r, now)
			} else {
				for i := range p.scratch {
					s := p.scratch[(next+i)%len(p.scratch)]
					if s.sendReceipt(r, now) {
						next = (next + i + 1) % len(p.scratch)
						sent = true
						break
					}
				}
			}
			if !sent {
				break
			}
			q.pop()
		}
		clear(p.scratch)
	}
}

// appendReceipt appends a deliver_sm carrying r's receipt, built with
// gosmpp's pdu package.
func appendReceipt(b []byte, r *receipt, seq uint32, now time.Time, hexIDs bool) []byte {
	var v submitView
	_ = parseSubmit(r.raw, &v) // validated when accepted
	st := r.stat

	text := make([]byte, 0, 160)
	text = fmt.Appendf(text, "id:%d sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:",
		r.id, st.dlvrd, r.submitAt.UTC().Format("0601021504"), now.UTC().Format("0601021504"), st.name, st.err)
	text = appendSnippet(text, &v, 20)

	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	d.SetSequenceNumber(int32(seq))
	d.ServiceType = string(v.serviceType)
	// The receipt comes from the handset: addresses swap.
	d.SourceAddr = pdu.NewAddressWithTonNpi(v.dstTON, v.dstNPI)
	_ = d.SourceAddr.SetAddress(string(v.dst))
	d.DestAddr = pdu.NewAddressWithTonNpi(v.srcTON, v.srcNPI)
	_ = d.DestAddr.SetAddress(string(v.src))
	d.EsmClass = 0x04
	d.Message, _ = pdu.NewBinaryShortMessageWithEncoding(text, data.GSM7BIT)
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: append(appendID(nil, r.id, hexIDs), 0)})
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{st.state}})
	return appendPDU(b, d)
}

// appendSnippet appends the first n characters of the message text as
// printable ASCII ('?' for anything else), decoding UCS-2 first.
func appendSnippet(b []byte, v *submitView, n int) []byte {
	t := v.text()
	if v.dataCoding == data.UCS2Coding {
		u := make([]uint16, 0, len(t)/2)
		for i := 0; i+1 < len(t); i += 2 {
			u = append(u, uint16(t[i])<<8|uint16(t[i+1]))
		}
		for _, r := range utf16.Decode(u) {
			if n == 0 {
				break
			}
			b = append(b, printable(r))
			n--
		}
		return b
	}
	for _, c := range t {
		if n == 0 {
			break
		}
		b = append(b, printable(rune(c)))
		n--
	}
	return b
}

func printable(r rune) byte {
	if r >= 0x20 && r < 0x7f {
		return byte(r)
	}
	return '?'
}

// appendPDU marshals p with gosmpp after b.
func appendPDU(b []byte, p pdu.PDU) []byte {
	buf := pdu.NewBuffer(b)
	p.Marshal(buf)
	return buf.Bytes()
}
