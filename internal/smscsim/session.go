package smscsim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp/pdu"
)

const (
	readBufSize  = 32 << 10
	writeTimeout = 30 * time.Second
	// lingerTimeout bounds hangUp's wait for the ESME to close its side.
	lingerTimeout = time.Second
	simSystemID   = "otpgate-sim"
)

type bindKind uint8

const (
	unbound bindKind = iota
	boundTX
	boundRX
	boundTRX
)

// session is one ESME connection. Its reader goroutine reads, answers and
// batches: responses collect in out and go to the socket in one write when
// the next PDU is not fully buffered yet. Receipts and MO messages are
// appended to async by other goroutines and written by the session's writer
// goroutine.
type session struct {
	srv    *Server
	conn   net.Conn
	remote string
	br     *bufio.Reader

	// owned by the reader goroutine
	out       []byte
	scratch   []byte
	batch     []record
	receipts  []*receipt
	received  int64 // submit_sm not yet counted in srv.count
	submits   int   // submit_sm on this connection, for DropAfter
	throttleN int64
	tokens    float64
	tokensAt  time.Time

	wmu sync.Mutex // serialises writes to conn

	mu          sync.Mutex // guards the fields below
	kind        bindKind   // written by the reader, under mu
	systemID    string     // written by the reader, under mu
	closed      bool
	seq         uint32
	async       []byte
	outstanding map[uint32]*receipt

	kick chan struct{}
	done chan struct{}
}

func newSession(srv *Server, conn net.Conn) *session {
	return &session{
		srv:         srv,
		conn:        conn,
		remote:      conn.RemoteAddr().String(),
		br:          bufio.NewReaderSize(conn, readBufSize),
		outstanding: make(map[uint32]*receipt),
		kick:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
}

// serve is the reader goroutine.
func (c *session) serve() {
	defer c.shutdown()
	for {
		if c.br.Buffered() < headerLen && !c.flush() {
			return
		}
		hdr, err := c.br.Peek(headerLen)
		if err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr)
		cmd := binary.BigEndian.Uint32(hdr[4:])
		status := binary.BigEndian.Uint32(hdr[8:])
		seq := binary.BigEndian.Uint32(hdr[12:])
		if n < headerLen || n > maxPDULen {
			// The framing is lost: say so and hang up.
			c.srv.logf("%s %s seq=%d len=%d: invalid command_length, closing", c.remote, cmdName(cmd), seq, n)
			c.out = appendHeader(c.out, headerLen, cmdGenericNack, statusInvCmdLen, seq)
			c.flush()
			return
		}
		var frame []byte
		peeked := int(n) <= c.br.Size()
		if peeked {
			if c.br.Buffered() < int(n) && !c.flush() {
				return
			}
			if frame, err = c.br.Peek(int(n)); err != nil {
				return
			}
		} else {
			c.scratch = slices.Grow(c.scratch[:0], int(n))[:n]
			if _, err = io.ReadFull(c.br, c.scratch); err != nil {
				return
			}
			frame = c.scratch
		}
		keep := c.handle(cmd, status, seq, frame)
		if peeked {
			_, _ = c.br.Discard(int(n))
		}
		if !keep {
			if c.flush() {
				c.hangUp()
			}
			return
		}
	}
}

// hangUp ends the connection after the last responses: FIN first, then
// what the ESME still sends is read and dropped for a moment, so that
// closing with unread input does not reset the connection (a TCP RST can
// destroy responses the ESME has not read yet).
func (c *session) hangUp() {
	tc, ok := c.conn.(*net.TCPConn)
	if !ok {
		return
	}
	c.wmu.Lock() // not in the middle of a receipt
	_ = tc.CloseWrite()
	c.wmu.Unlock()
	_ = c.conn.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.Copy(io.Discard, c.br)
}

// handle answers one PDU; false means close the connection.
func (c *session) handle(cmd, status, seq uint32, frame []byte) bool {
	s := c.srv
	switch cmd {
	case cmdSubmitSM:
		return c.onSubmit(seq, frame)
	case cmdDeliverSMResp, cmdGenericNack:
		if s.verbose() {
			s.logf("%s %s seq=%d status=0x%08X", c.remote, cmdName(cmd), seq, status)
		}
		if cmd == cmdGenericNack && status == statusOK {
			status = statusInvCmdID
		}
		c.onDeliverResp(seq, status)
	case cmdEnquireLink:
		s.logf("%s enquire_link seq=%d", c.remote, seq)
		c.out = appendHeader(c.out, headerLen, cmdEnquireLinkResp, statusOK, seq)
	case cmdUnbind:
		s.logf("%s unbind seq=%d", c.remote, seq)
		c.out = appendHeader(c.out, headerLen, cmdUnbindResp, statusOK, seq)
		return false
	case cmdBindTransmitter, cmdBindReceiver, cmdBindTransceiver:
		c.onBind(seq, frame)
	case cmdEnquireLinkResp, cmdUnbindResp:
		s.logf("%s %s seq=%d", c.remote, cmdName(cmd), seq)
	default:
		s.logf("%s unsupported command 0x%08X seq=%d: generic_nack", c.remote, cmd, seq)
		c.out = appendHeader(c.out, headerLen, cmdGenericNack, statusInvCmdID, seq)
	}
	return true
}

func (c *session) onBind(seq uint32, frame []byte) {
	s := c.srv
	p, err := pdu.Parse(bytes.NewReader(frame))
	req, ok := p.(*pdu.BindRequest)
	if err != nil || !ok {
		s.logf("%s bind seq=%d malformed: %v", c.remote, seq, err)
		c.out = appendHeader(c.out, headerLen, cmdGenericNack, statusInvCmdLen, seq)
		return
	}
	resp := req.GetResponse().(*pdu.BindResp)
	status := statusOK
	switch {
	case c.kind != unbound:
		status = statusAlyBnd
	case s.cfg.SystemID != "" && req.SystemID != s.cfg.SystemID,
		s.cfg.Password != "" && req.Password != s.cfg.Password:
		status = statusBindFail
	}
	s.logf("%s %s seq=%d system_id=%q status=0x%08X", c.remote, cmdName(uint32(req.CommandID)), seq, req.SystemID, status)
	if status != statusOK {
		// SMPP 3.4 4.1.2: no body when command_status is non-zero.
		c.out = appendHeader(c.out, headerLen, uint32(resp.CommandID), status, seq)
		return
	}
	resp.SystemID = simSystemID
	c.out = appendPDU(c.out, resp)

	kind := boundTX
	switch req.BindingType {
	case pdu.Receiver:
		kind = boundRX
	case pdu.Transceiver:
		kind = boundTRX
	}
	c.mu.Lock()
	c.kind, c.systemID = kind, req.SystemID
	c.mu.Unlock()
	s.binds.Add(1)
	if kind != boundTX {
		// The bind_resp goes out before anything the receiver side may send
		// (queued receipts), and the session is a receiver by the time the
		// ESME reads it: register, and write it, holding the write lock.
		c.commit()
		c.wmu.Lock()
		s.addReceiver(c) // nothing reaches the conn before the unlock below
		_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := c.conn.Write(c.out)
		c.out = c.out[:0]
		c.wmu.Unlock()
		if err != nil {
			_ = c.conn.Close()
		}
	}
}

func (c *session) onSubmit(seq uint32, frame []byte) bool {
	s := c.srv
	c.received++
	c.submits++
	status := statusOK
	var v submitView
	switch {
	case c.kind != boundTX && c.kind != boundTRX:
		status = statusInvBndSts
	case parseSubmit(frame[headerLen:], &v) != nil:
		s.logf("%s submit_sm seq=%d malformed: generic_nack", c.remote, seq)
		c.out = appendHeader(c.out, headerLen, cmdGenericNack, statusInvCmdLen, seq)
		return c.keepAfterSubmit()
	default:
		status = validateSubmit(&v)
		if status == statusOK && s.cfg.RefuseDest != "" && strings.HasPrefix(string(v.dst), s.cfg.RefuseDest) {
			status = statusInvDstAdr
		}
	}
	if status == statusOK {
		c.throttleN++
		if every := s.throttleEvery.Load(); every > 0 && c.throttleN%every == 0 {
			status = statusThrottled
		}
	}
	now := time.Now()
	if status == statusOK && s.cfg.MaxTPS > 0 && !c.takeToken(now) {
		status = statusThrottled
	}
	if status != statusOK {
		if s.verbose() {
			s.logf("%s submit_sm seq=%d status=0x%08X", c.remote, seq, status)
		}
		c.out = appendHeader(c.out, headerLen, cmdSubmitSMResp, status, seq)
		return c.keepAfterSubmit()
	}

	id := s.nextID.Add(1)
	raw := make([]byte, len(frame)-headerLen)
	copy(raw, frame[headerLen:])
	c.batch = append(c.batch, record{raw: raw, id: id, at: now.UnixNano(), sys: c.systemID})
	c.out = appendSubmitResp(c.out, seq, id, s.cfg.HexIDs)
	if asksReceipt(v.regDelivery) {
		r := &receipt{
			id: id, sys: c.systemID, raw: raw, rd: v.regDelivery,
			submitAt: now, due: now.Add(s.pump.delay),
		}
		if c.kind == boundTRX {
			r.origin = c
		}
		c.receipts = append(c.receipts, r)
	}
	if o := s.cfg.Observer; o != nil {
		o.Submitted(string(v.dst), now)
	}
	if s.join != nil {
		s.takeMessage(&v, formatID(id, s.cfg.HexIDs), c.systemID, now)
	}
	if s.verbose() {
		s.logf("%s submit_sm seq=%d id=%s src=%q dst=%q dc=%d esm=0x%02X rd=%d len=%d",
			c.remote, seq, formatID(id, s.cfg.HexIDs), v.src, mask(string(v.dst)),
			v.dataCoding, v.esmClass, v.regDelivery, len(v.content()))
	}
	return c.keepAfterSubmit()
}

func (c *session) keepAfterSubmit() bool {
	if d := c.srv.cfg.DropAfter; d > 0 && c.submits >= d {
		c.srv.logf("%s dropping after %d submit_sm", c.remote, c.submits)
		return false
	}
	return true
}

// takeToken is a token bucket of MaxTPS tokens refilled at MaxTPS a second.
func (c *session) takeToken(now time.Time) bool {
	limit := float64(c.srv.cfg.MaxTPS)
	if c.tokensAt.IsZero() {
		c.tokens = limit
	} else {
		c.tokens = min(limit, c.tokens+now.Sub(c.tokensAt).Seconds()*limit)
	}
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *session) onDeliverResp(seq, status uint32) {
	c.mu.Lock()
	r := c.outstanding[seq]
	wasFull := len(c.outstanding) >= receiptWindow
	delete(c.outstanding, seq)
	c.mu.Unlock()
	if r == nil {
		return
	}
	if o := c.srv.cfg.Observer; o != nil {
		var v submitView
		_ = parseSubmit(r.raw, &v) // validated when accepted
		o.ReceiptAnswered(string(v.dst), status, time.Now())
	}
	if status != statusOK {
		c.srv.pump.retry(r)
		return
	}
	if wasFull {
		c.srv.pump.wake()
	}
}

// flush hands the batch to the server and writes pending responses.
func (c *session) flush() bool {
	c.commit()
	if len(c.out) == 0 {
		return true
	}
	err := c.write(c.out)
	c.out = c.out[:0]
	return err == nil
}

// commit makes the batch's submits visible (Submits, Count, receipts)
// before their responses are written.
func (c *session) commit() {
	s := c.srv
	if len(c.batch) > 0 {
		s.store.add(c.batch)
		clear(c.batch)
		c.batch = c.batch[:0]
	}
	if c.received > 0 {
		s.count.Add(c.received)
		c.received = 0
	}
	if len(c.receipts) > 0 {
		s.pump.add(c.receipts)
		clear(c.receipts)
		c.receipts = c.receipts[:0]
	}
}

func (c *session) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.conn.Write(b)
	if err != nil {
		_ = c.conn.Close()
	}
	return err
}

// writeLoop is the writer goroutine: it sends what others appended to async.
func (c *session) writeLoop() {
	var spare []byte
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		c.mu.Lock()
		b := c.async
		c.async = spare[:0]
		c.mu.Unlock()
		if len(b) > 0 && c.write(b) != nil {
			return
		}
		spare = b
	}
}

func (c *session) wakeWriter() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *session) canReceive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && (c.kind == boundRX || c.kind == boundTRX)
}

// nextSeq returns the next sequence number for a PDU the SMSC sends. c.mu held.
func (c *session) nextSeq() uint32 {
	c.seq++
	if c.seq == 0 || c.seq > 0x7FFFFFFF {
		c.seq = 1
	}
	return c.seq
}

// sendReceipt queues r as a deliver_sm unless the bind is closed, cannot
// receive or has receiptWindow receipts unacknowledged.
func (c *session) sendReceipt(r *receipt, now time.Time) bool {
	c.mu.Lock()
	if c.closed || (c.kind != boundRX && c.kind != boundTRX) || len(c.outstanding) >= receiptWindow {
		c.mu.Unlock()
		return false
	}
	seq := c.nextSeq()
	c.async = appendReceipt(c.async, r, seq, now, c.srv.cfg.HexIDs)
	c.outstanding[seq] = r
	c.mu.Unlock()
	c.wakeWriter()
	return true
}

// sendPDU queues a deliver_sm built by the caller; false if the bind cannot
// receive.
func (c *session) sendPDU(p pdu.PDU) bool {
	c.mu.Lock()
	if c.closed || (c.kind != boundRX && c.kind != boundTRX) {
		c.mu.Unlock()
		return false
	}
	p.SetSequenceNumber(int32(c.nextSeq()))
	c.async = appendPDU(c.async, p)
	c.mu.Unlock()
	c.wakeWriter()
	return true
}

// shutdown runs when the reader stops: unacknowledged receipts go back to
// the pump, to be resent when a receiver binds.
func (c *session) shutdown() {
	_ = c.conn.Close()
	c.commit()
	c.mu.Lock()
	c.closed = true
	left := make([]uint32, 0, len(c.outstanding))
	for seq := range c.outstanding {
		left = append(left, seq)
	}
	slices.Sort(left)
	rs := make([]*receipt, 0, len(left))
	for _, seq := range left {
		rs = append(rs, c.outstanding[seq])
	}
	c.outstanding = nil
	c.async = nil
	c.mu.Unlock()
	close(c.done)
	c.srv.removeSession(c)
	c.srv.pump.giveBack(rs)
	c.srv.logf("%s closed", c.remote)
	// Queued receipts may still point here as their origin: keep little.
	c.br, c.out, c.scratch, c.batch, c.receipts = nil, nil, nil, nil, nil
}

// mask hides the middle of a phone number for the log.
func mask(addr string) string {
	if len(addr) <= 6 {
		return addr
	}
	return addr[:4] + strings.Repeat("*", len(addr)-7) + addr[len(addr)-3:]
}
