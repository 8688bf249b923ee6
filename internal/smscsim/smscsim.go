// Package smscsim is an SMPP 3.4 SMSC simulator (the server side) for local
// development, load tests and otpgate's own tests.
//
// It accepts bind_transmitter, bind_receiver and bind_transceiver, answers
// submit_sm with increasing message ids, and sends delivery receipts as
// deliver_sm (esm_class 0x04) with both the text form and the
// receipted_message_id and message_state TLVs. Faults can be injected:
// throttling (every Nth submit, or beyond a rate), dropped connections, and
// hex ids in submit_sm_resp with decimal ids in the receipt text.
//
// With Config.Messages it also reads what it takes as a handset would: each
// message decoded by its data_coding (GSM-7 with its extension table,
// UCS-2, Latin-1), the parts of a concatenated one (UDH IEI 0x00 or 0x08,
// SAR TLVs) joined, given once whole; Inbox keeps the last of them and
// serves them over HTTP, so a developer can read a code.
//
// Per connection one goroutine reads and answers, batching responses into
// one write whenever the next PDU is not yet in the read buffer; receipts are
// written by a second goroutine per connection.
package smscsim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// Config configures a Server. The zero value accepts anything and only
// answers.
type Config struct {
	// SystemID and Password, when not empty, must match a bind's; otherwise
	// the bind is refused with ESME_RBINDFAIL (0x0D). Empty accepts any.
	SystemID, Password string
	// ReceiptDelay is the wait between accepting a submit_sm and sending its
	// receipt; 0 means 100ms. Receipts go only when registered_delivery asks:
	// bit 0 set (any outcome), or value 2 (failures only).
	ReceiptDelay time.Duration
	// Outcomes weighs receipt outcomes by stat, e.g. {"DELIVRD":0.9,
	// "UNDELIV":0.1}; nil means all DELIVRD. Known stats: DELIVRD, EXPIRED,
	// DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD. The mix is exact and
	// deterministic (weighted round robin), not random.
	Outcomes map[string]float64
	// ThrottleEvery answers every Nth submit_sm of a connection with
	// ESME_RTHROTTLED (0x58); 0 = never. SetThrottle changes it at run time.
	ThrottleEvery int
	// MaxTPS answers submit_sm beyond this rate per second per connection
	// (a token bucket of MaxTPS) with ESME_RTHROTTLED; 0 = unlimited.
	MaxTPS int
	// DropAfter closes each connection, without unbind, right after its Nth
	// submit_sm has been answered; 0 = never.
	DropAfter int
	// RefuseDest answers submit_sm whose destination address starts with
	// it with ESME_RINVDSTADR (0x0B), as an SMSC does for a number it does
	// not serve; "" refuses none.
	RefuseDest string
	// HexIDs gives message ids in submit_sm_resp (and receipted_message_id)
	// in hex, while the receipt text keeps them decimal.
	HexIDs bool
	// Log gets one line per PDU received when Verbose; nil = quiet.
	Log     io.Writer
	Verbose bool
	// Observer, when set, is told of every accepted submit_sm and every
	// answer to a receipt as they happen (see Observer).
	Observer Observer
	// Messages, when set, is given each text message the simulator takes,
	// once whole (see Message): an accepted submit_sm on its own, or the
	// parts of a concatenated one (a UDH with IEI 0x00 or 0x08, or the SAR
	// TLVs) joined when the last of them arrives. Parts of different
	// references, senders, destinations or binds' system_ids are kept apart.
	// A concatenated message still missing parts PartsTimeout after its
	// last part came is given up and passed with Missing set, as is the
	// oldest when incomplete messages hold more than 16 MiB. Calls come
	// one at a time, from the connections' readers and a timer: Messages
	// must be quick (a reader waits for it).
	Messages func(Message)
	// PartsTimeout is how long a concatenated message waits for its next
	// part; 0 means DefaultPartsTimeout (1 minute).
	PartsTimeout time.Duration
}

// Observer watches a Server's traffic, for load generators that match what
// reaches the SMSC with what they sent. Its methods are called on the
// connections' reader goroutines: they must be quick and must not block.
type Observer interface {
	// Submitted is called for each submit_sm the simulator accepts, with
	// its destination address as sent (e.g. "962791234567") and the time it
	// was read, before its submit_sm_resp is written. Throttled or refused
	// submit_sm are not reported.
	Submitted(dest string, at time.Time)
	// ReceiptAnswered is called for each deliver_sm_resp (or generic_nack)
	// that answers a delivery receipt, with the destination of the
	// submit_sm the receipt is for, the answer's command_status (0 is
	// ESME_ROK) and the time it was read. A refused receipt is sent again
	// later, and reported again when answered.
	ReceiptAnswered(dest string, status uint32, at time.Time)
}

// Submit is a submit_sm the simulator accepted.
type Submit struct {
	MessageID            string // as sent in submit_sm_resp
	SystemID             string // of the bind it came on
	SourceTON, SourceNPI byte
	Source               string
	DestTON, DestNPI     byte
	Dest                 string
	ESMClass             byte
	DataCoding           byte
	RegisteredDelivery   byte
	ShortMessage         []byte            // raw, including a UDH when ESMClass has 0x40
	TLVs                 map[uint16][]byte // nil when none
	At                   time.Time
}

// maxSubmits caps how many accepted submits Submits remembers.
const maxSubmits = 1_000_000

// record is an accepted submit_sm as stored: its body, parsed on demand.
type record struct {
	raw []byte
	id  uint64
	at  int64
	sys string
}

// store keeps the last maxSubmits records in a ring.
type store struct {
	mu   sync.Mutex
	recs []record
	head int // oldest record once the ring is full
}

func (st *store) add(batch []record) {
	st.mu.Lock()
	for _, r := range batch {
		if len(st.recs) < maxSubmits {
			st.recs = append(st.recs, r)
			continue
		}
		st.recs[st.head] = r
		st.head = (st.head + 1) % maxSubmits
	}
	st.mu.Unlock()
}

func (st *store) snapshot() []record {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]record, 0, len(st.recs))
	out = append(out, st.recs[st.head:]...)
	return append(out, st.recs[:st.head]...)
}

// Server is an SMSC simulator. Create it with New, then Start it.
type Server struct {
	cfg Config

	throttleEvery atomic.Int64
	nextID        atomic.Uint64
	count         atomic.Int64
	binds         atomic.Int64
	store         store
	pump          *pump
	logMu         sync.Mutex

	joinMu sync.Mutex // serialises join and Config.Messages
	join   *joiner    // nil without Config.Messages
	stop   chan struct{}

	mu        sync.Mutex
	ln        net.Listener
	started   bool
	closed    bool
	sessions  map[*session]struct{}
	receivers []*session // bound RX and TRX, in bind order
	moNext    int
	wg        sync.WaitGroup
}

// New returns a server for cfg; Start validates cfg and listens.
func New(cfg Config) *Server {
	if cfg.ReceiptDelay == 0 {
		cfg.ReceiptDelay = 100 * time.Millisecond
	}
	s := &Server{cfg: cfg, sessions: make(map[*session]struct{}), stop: make(chan struct{})}
	if cfg.Messages != nil {
		s.join = newJoiner(cfg.PartsTimeout)
	}
	s.throttleEvery.Store(int64(cfg.ThrottleEvery))
	// Ids start at the clock in microseconds: increasing within a run and
	// not reused by the next run, and never the same string in hex and
	// decimal.
	s.nextID.Store(uint64(time.Now().UnixMicro()))
	return s
}

// Start listens on addr ("127.0.0.1:0" for any port) and serves in the
// background. It returns the address listened on.
func (s *Server) Start(addr string) (net.Addr, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	mix, err := newOutcomeMix(s.cfg.Outcomes)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return nil, errors.New("smscsim: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.ln, s.started = ln, true
	s.pump = newPump(s, mix, s.cfg.ReceiptDelay)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.pump.run()
	}()
	go func() {
		defer s.wg.Done()
		s.accept(ln)
	}()
	if s.join != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.expireParts()
		}()
	}
	return ln.Addr(), nil
}

// takeMessage hands an accepted submit_sm to the joiner, and what it
// completes to Config.Messages.
func (s *Server) takeMessage(v *submitView, id, systemID string, at time.Time) {
	p := partOf(v)
	p.id, p.sys, p.at = id, systemID, at
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	for _, m := range s.join.add(p, nil) {
		s.cfg.Messages(m)
	}
}

// expireParts gives up concatenated messages whose parts stopped coming,
// until Close.
func (s *Server) expireParts() {
	t := time.NewTicker(min(max(s.join.timeout/4, 10*time.Millisecond), time.Second))
	defer t.Stop()
	var out []Message
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.joinMu.Lock()
			out = s.join.expire(now, out[:0])
			for _, m := range out {
				s.cfg.Messages(m)
			}
			s.joinMu.Unlock()
			clear(out)
		}
	}
}

func (s *Server) validate() error {
	c := s.cfg
	switch {
	case c.ReceiptDelay < 0:
		return errors.New("smscsim: negative ReceiptDelay")
	case c.ThrottleEvery < 0, c.MaxTPS < 0, c.DropAfter < 0:
		return errors.New("smscsim: ThrottleEvery, MaxTPS and DropAfter must not be negative")
	case c.PartsTimeout < 0:
		return errors.New("smscsim: negative PartsTimeout")
	}
	return nil
}

func (s *Server) accept(ln net.Listener) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// e.g. too many open files: wait and retry
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := newSession(s, conn)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.sessions[c] = struct{}{}
		s.wg.Add(2)
		s.mu.Unlock()
		s.logf("%s connected", c.remote)
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
		go func() {
			defer s.wg.Done()
			c.writeLoop()
		}()
	}
}

// Close closes the listener and every connection and waits for the
// server's goroutines. Safe to call twice; Submits and Count keep working.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.sessions {
		_ = c.conn.Close()
	}
	p := s.pump
	s.mu.Unlock()
	if p != nil {
		close(p.done)
	}
	close(s.stop)
	s.wg.Wait()
	return err
}

// DropAll closes every connection at once, with no unbind and without
// writing responses still buffered.
func (s *Server) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.sessions {
		_ = c.conn.Close()
	}
	// Gone at once, not when each session's reader notices: nothing is
	// delivered to a dropped connection after DropAll returns.
	s.receivers = s.receivers[:0]
}

// Submits returns a copy of the accepted submit_sm (at most the last
// 1,000,000), oldest first. Throttled or refused submit_sm are not in it.
func (s *Server) Submits() []Submit {
	recs := s.store.snapshot()
	out := make([]Submit, 0, len(recs))
	for _, r := range recs {
		var v submitView
		_ = parseSubmit(r.raw, &v) // validated when accepted
		sub := Submit{
			MessageID:          formatID(r.id, s.cfg.HexIDs),
			SystemID:           r.sys,
			SourceTON:          v.srcTON,
			SourceNPI:          v.srcNPI,
			Source:             string(v.src),
			DestTON:            v.dstTON,
			DestNPI:            v.dstNPI,
			Dest:               string(v.dst),
			ESMClass:           v.esmClass,
			DataCoding:         v.dataCoding,
			RegisteredDelivery: v.regDelivery,
			ShortMessage:       append([]byte{}, v.sm...),
			At:                 time.Unix(0, r.at),
		}
		for q := v.tlvs; len(q) >= 4; {
			tag, l := uint16(q[0])<<8|uint16(q[1]), int(q[2])<<8|int(q[3])
			if sub.TLVs == nil {
				sub.TLVs = make(map[uint16][]byte)
			}
			sub.TLVs[tag] = append([]byte{}, q[4:4+l]...)
			q = q[4+l:]
		}
		out = append(out, sub)
	}
	return out
}

// Count returns how many submit_sm were received, refused ones included.
func (s *Server) Count() int64 { return s.count.Load() }

// Binds returns how many binds succeeded so far.
func (s *Server) Binds() int64 { return s.binds.Load() }

// SetThrottle makes every Nth submit_sm of each connection get
// ESME_RTHROTTLED from now on; 0 turns it off.
func (s *Server) SetThrottle(every int) { s.throttleEvery.Store(int64(max(every, 0))) }

// SendMO sends a mobile-originated deliver_sm (esm_class 0) from from to to
// on a bound receiver or transceiver, rotating among them. Addresses of
// digits (an optional leading '+' is dropped) go as TON 1/NPI 1, others as
// alphanumeric TON 5/NPI 0. shortMessage is sent raw (at most 254 octets;
// use the message_payload TLV 0x0424 for more). gosmpp skips empty TLVs.
func (s *Server) SendMO(from, to string, dataCoding byte, shortMessage []byte, tlvs map[uint16][]byte) error {
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	var err error
	if d.SourceAddr, err = moAddress(from); err != nil {
		return err
	}
	if d.DestAddr, err = moAddress(to); err != nil {
		return err
	}
	enc := data.FromDataCoding(dataCoding)
	if enc == nil {
		enc = data.NewCustomEncoding(dataCoding, data.BINARY8BIT2)
	}
	if d.Message, err = pdu.NewBinaryShortMessageWithEncoding(shortMessage, enc); err != nil {
		return fmt.Errorf("smscsim: SendMO: %w", err)
	}
	for tag, v := range tlvs {
		d.RegisterOptionalParam(pdu.Field{Tag: pdu.Tag(tag), Data: v})
	}

	s.mu.Lock()
	rs := append([]*session(nil), s.receivers...)
	start := s.moNext
	s.moNext++
	s.mu.Unlock()
	for i := range rs {
		if rs[(start+i)%len(rs)].sendPDU(d) {
			return nil
		}
	}
	return errors.New("smscsim: SendMO: no receiver or transceiver bound")
}

func moAddress(a string) (pdu.Address, error) {
	ton, npi := byte(5), byte(0)
	if d := strings.TrimPrefix(a, "+"); d != "" && strings.Trim(d, "0123456789") == "" {
		a, ton, npi = d, 1, 1
	}
	addr, err := pdu.NewAddressWithTonNpiAddr(ton, npi, a)
	if err != nil {
		return addr, fmt.Errorf("smscsim: SendMO: %w", err)
	}
	return addr, nil
}

func (s *Server) addReceiver(c *session) {
	s.mu.Lock()
	s.receivers = append(s.receivers, c)
	s.mu.Unlock()
	s.pump.wake()
}

func (s *Server) removeSession(c *session) {
	s.mu.Lock()
	delete(s.sessions, c)
	for i, r := range s.receivers {
		if r == c {
			s.receivers = append(s.receivers[:i], s.receivers[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
}

// receiversFor appends the receivers bound with systemID to dst.
func (s *Server) receiversFor(systemID string, dst []*session) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.receivers {
		if c.systemID == systemID {
			dst = append(dst, c)
		}
	}
	return dst
}

func (s *Server) verbose() bool { return s.cfg.Verbose && s.cfg.Log != nil }

func (s *Server) logf(format string, args ...any) {
	if !s.verbose() {
		return
	}
	line := fmt.Sprintf("%s smscsim: "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	s.logMu.Lock()
	_, _ = io.WriteString(s.cfg.Log, line)
	s.logMu.Unlock()
}
