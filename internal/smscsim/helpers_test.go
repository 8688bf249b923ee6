package smscsim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

const waitFor = 5 * time.Second

// MustStart starts a server for cfg on loopback and closes it at cleanup.
func MustStart(tb testing.TB, cfg Config) (*Server, string) {
	tb.Helper()
	s := New(cfg)
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, addr.String()
}

// frame is one PDU as read off the wire.
type frame struct {
	cmd, status, seq uint32
	raw              []byte // the whole PDU
}

// parse decodes the frame with gosmpp.
func (f frame) parse(tb testing.TB) pdu.PDU {
	tb.Helper()
	p, err := pdu.Parse(bytes.NewReader(f.raw))
	if err != nil {
		tb.Fatalf("gosmpp cannot parse %s: %v (% x)", cmdName(f.cmd), err, f.raw)
	}
	return p
}

// rawClient is a minimal ESME over a net.Conn, for exact control of what
// goes on the wire.
type rawClient struct {
	tb   testing.TB
	conn net.Conn
	br   *bufio.Reader
	seq  uint32
}

func dialRaw(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return &rawClient{tb: tb, conn: conn, br: bufio.NewReader(conn)}
}

// send marshals p with the next sequence number and writes it.
func (c *rawClient) send(p pdu.PDU) uint32 {
	c.tb.Helper()
	c.seq++
	p.SetSequenceNumber(int32(c.seq))
	b := pdu.NewBuffer(nil)
	p.Marshal(b)
	c.write(b.Bytes())
	return c.seq
}

func (c *rawClient) write(b []byte) {
	c.tb.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

func (c *rawClient) readFrame() (frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
	var hdr [16]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	raw := make([]byte, n)
	copy(raw, hdr[:])
	if _, err := io.ReadFull(c.br, raw[16:]); err != nil {
		return frame{}, err
	}
	return frame{
		cmd:    binary.BigEndian.Uint32(hdr[4:]),
		status: binary.BigEndian.Uint32(hdr[8:]),
		seq:    binary.BigEndian.Uint32(hdr[12:]),
		raw:    raw,
	}, nil
}

func (c *rawClient) read() frame {
	c.tb.Helper()
	f, err := c.readFrame()
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return f
}

// expect reads one PDU and checks its command, status and sequence number.
func (c *rawClient) expect(cmd, status, seq uint32) frame {
	c.tb.Helper()
	f := c.read()
	if f.cmd != cmd || f.status != status || f.seq != seq {
		c.tb.Fatalf("got %s status=0x%X seq=%d, want %s status=0x%X seq=%d",
			cmdName(f.cmd), f.status, f.seq, cmdName(cmd), status, seq)
	}
	return f
}

// expectClosed checks the server closes the connection.
func (c *rawClient) expectClosed() {
	c.tb.Helper()
	f, err := c.readFrame()
	if err == nil {
		c.tb.Fatalf("got %s, want the connection closed", cmdName(f.cmd))
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.tb.Fatalf("connection still open after %v", waitFor)
	}
}

func (c *rawClient) bind(kind pdu.BindingType, sys, pass string) uint32 {
	c.tb.Helper()
	req := pdu.NewBindRequest(kind)
	req.SystemID, req.Password = sys, pass
	seq := c.send(req)
	f := c.read()
	if f.seq != seq {
		c.tb.Fatalf("bind_resp seq %d, want %d", f.seq, seq)
	}
	return f.status
}

func (c *rawClient) mustBind(kind pdu.BindingType, sys string) {
	c.tb.Helper()
	if st := c.bind(kind, sys, "pw"); st != 0 {
		c.tb.Fatalf("bind status 0x%X", st)
	}
}

// submitArgs describes a submit_sm for tests.
type submitArgs struct {
	srcTON, srcNPI byte
	src            string
	dstTON, dstNPI byte
	dst            string
	esm, rd, dc    byte
	sm             []byte
	tlvs           map[uint16][]byte
}

func gsm(text string) submitArgs {
	return submitArgs{srcTON: 5, src: "otpgate", dstTON: 1, dstNPI: 1, dst: "962791234567", sm: []byte(text)}
}

func (a submitArgs) pdu(tb testing.TB) *pdu.SubmitSM {
	tb.Helper()
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	var err error
	if p.SourceAddr, err = pdu.NewAddressWithTonNpiAddr(a.srcTON, a.srcNPI, a.src); err != nil {
		tb.Fatal(err)
	}
	if p.DestAddr, err = pdu.NewAddressWithTonNpiAddr(a.dstTON, a.dstNPI, a.dst); err != nil {
		tb.Fatal(err)
	}
	p.EsmClass, p.RegisteredDelivery = a.esm, a.rd
	enc := data.FromDataCoding(a.dc)
	if enc == nil {
		enc = data.NewCustomEncoding(a.dc, data.BINARY8BIT2)
	}
	if p.Message, err = pdu.NewBinaryShortMessageWithEncoding(a.sm, enc); err != nil {
		tb.Fatal(err)
	}
	for tag, v := range a.tlvs {
		p.RegisterOptionalParam(pdu.Field{Tag: pdu.Tag(tag), Data: v})
	}
	return p
}

// submitID sends a and returns the message id of its submit_sm_resp.
func (c *rawClient) submitID(a submitArgs) string {
	c.tb.Helper()
	seq := c.send(a.pdu(c.tb))
	f := c.expect(cmdSubmitSMResp, 0, seq)
	return f.parse(c.tb).(*pdu.SubmitSMResp).MessageID
}

// gclient is a gosmpp session in window mode, as otpgate's connector uses
// it; everything it receives lands in in.
type gclient struct {
	sess       *gosmpp.Session
	in         chan pdu.PDU
	unexpected atomic.Int64
	submitErrs atomic.Int64
}

func dialGosmpp(tb testing.TB, addr string, kind pdu.BindingType, sys, pass string) (*gclient, error) {
	tb.Helper()
	g := &gclient{in: make(chan pdu.PDU, 1000)}
	settings := gosmpp.Settings{
		ReadTimeout:   10 * time.Second,
		WriteTimeout:  5 * time.Second,
		OnSubmitError: func(pdu.PDU, error) { g.submitErrs.Add(1) },
		WindowedRequestTracking: &gosmpp.WindowedRequestTracking{
			OnReceivedPduRequest: func(p pdu.PDU) (pdu.PDU, bool) {
				g.in <- p
				if p.CanResponse() {
					return p.GetResponse(), false
				}
				return nil, false
			},
			OnExpectedPduResponse: func(r gosmpp.Response) { g.in <- r.PDU },
			OnUnexpectedPduResponse: func(p pdu.PDU) {
				g.unexpected.Add(1)
				g.in <- p
			},
			MaxWindowSize:      100,
			EnableAutoRespond:  true,
			StoreAccessTimeOut: 1000, // gosmpp multiplies by time.Millisecond
		},
	}
	auth := gosmpp.Auth{SMSC: addr, SystemID: sys, Password: pass}
	var conn gosmpp.Connector
	switch kind {
	case pdu.Transmitter:
		conn = gosmpp.TXConnector(gosmpp.NonTLSDialer, auth)
	case pdu.Receiver:
		conn = gosmpp.RXConnector(gosmpp.NonTLSDialer, auth)
	default:
		conn = gosmpp.TRXConnector(gosmpp.NonTLSDialer, auth)
	}
	sess, err := gosmpp.NewSession(conn, settings, -1)
	if err != nil {
		return nil, err
	}
	g.sess = sess
	tb.Cleanup(func() { _ = sess.Close() })
	return g, nil
}

// next returns the next PDU of type T, skipping others.
func next[T pdu.PDU](tb testing.TB, g *gclient) T {
	tb.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case p := <-g.in:
			if t, ok := p.(T); ok {
				return t
			}
		case <-deadline:
			var zero T
			tb.Fatalf("no %T within %v", zero, waitFor)
			return zero
		}
	}
}

func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
