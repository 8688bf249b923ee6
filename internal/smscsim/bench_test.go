package smscsim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/pdu"
)

const benchWindow = 100

// benchClient is a pipelined ESME: one goroutine writes submit_sm while at
// most benchWindow are unanswered, another reads responses (and answers
// receipts). It is not gosmpp's session, so that the simulator is measured.
type benchClient struct {
	conn   net.Conn
	br     *bufio.Reader
	wmu    sync.Mutex
	bw     *bufio.Writer
	window chan struct{}
}

func dialBench(b *testing.B, addr string, kind pdu.BindingType) *benchClient {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	c := &benchClient{
		conn:   conn,
		br:     bufio.NewReaderSize(conn, 64<<10),
		bw:     bufio.NewWriterSize(conn, 64<<10),
		window: make(chan struct{}, benchWindow),
	}
	req := pdu.NewBindRequest(kind)
	req.SystemID = "bench"
	if _, err := conn.Write(marshal(req)); err != nil {
		b.Fatal(err)
	}
	p, err := pdu.Parse(c.br)
	if err != nil || !p.IsOk() {
		b.Fatalf("bind: %v %v", p, err)
	}
	return c
}

// run sends n copies of tmpl (its sequence number patched) and returns when
// all n submit_sm_resp and wantReceipts receipts have arrived.
func (c *benchClient) run(b *testing.B, tmpl []byte, n, wantReceipts int) {
	errc := make(chan error, 1)
	go func() { errc <- c.readLoop(n, wantReceipts) }()
	msg := append([]byte{}, tmpl...)
	for i := range n {
		select {
		case c.window <- struct{}{}:
		default:
			c.flush()
			c.window <- struct{}{}
		}
		binary.BigEndian.PutUint32(msg[12:], uint32(i+1))
		c.wmu.Lock()
		_, _ = c.bw.Write(msg)
		c.wmu.Unlock()
	}
	c.flush()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

func (c *benchClient) flush() {
	c.wmu.Lock()
	_ = c.bw.Flush()
	c.wmu.Unlock()
}

func (c *benchClient) readLoop(n, wantReceipts int) error {
	var hdr [headerLen]byte
	var ack []byte
	resps, receipts := 0, 0
	for resps < n || receipts < wantReceipts {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return err
		}
		l := binary.BigEndian.Uint32(hdr[:])
		cmd := binary.BigEndian.Uint32(hdr[4:])
		if _, err := c.br.Discard(int(l) - headerLen); err != nil {
			return err
		}
		switch cmd {
		case cmdSubmitSMResp:
			if st := binary.BigEndian.Uint32(hdr[8:]); st != 0 {
				return io.ErrUnexpectedEOF
			}
			resps++
			<-c.window
		case cmdDeliverSM:
			receipts++
			ack = appendHeader(ack, headerLen+1, cmdDeliverSMResp, 0, binary.BigEndian.Uint32(hdr[12:]))
			ack = append(ack, 0)
		}
		if len(ack) > 0 && c.br.Buffered() < headerLen {
			c.wmu.Lock()
			_, _ = c.bw.Write(ack)
			_ = c.bw.Flush()
			c.wmu.Unlock()
			ack = ack[:0]
		}
	}
	return nil
}

func submitTemplate(b *testing.B, rd byte) []byte {
	a := gsm("Your otpgate code is 123456")
	a.rd = rd
	return marshal(a.pdu(b))
}

// BenchmarkSubmit measures submit_sm/s through one bind with 100
// outstanding, no receipts asked.
func BenchmarkSubmit(b *testing.B) {
	_, addr := MustStart(b, Config{})
	c := dialBench(b, addr, pdu.Transmitter)
	tmpl := submitTemplate(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	c.run(b, tmpl, b.N, 0)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submit/s")
}

// BenchmarkSubmitToInbox: BenchmarkSubmit with every message decoded and
// kept in an Inbox, as otpgate smsc-sim does unless --http "" and
// --print-messages=false.
func BenchmarkSubmitToInbox(b *testing.B) {
	in := NewInbox(0, mustPhones(b))
	_, addr := MustStart(b, Config{Messages: in.Add})
	c := dialBench(b, addr, pdu.Transmitter)
	tmpl := submitTemplate(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	c.run(b, tmpl, b.N, 0)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submit/s")
}

// BenchmarkSubmitWithReceipts: the same over a transceiver asking a receipt
// for every message; it waits for every receipt and acknowledges each.
func BenchmarkSubmitWithReceipts(b *testing.B) {
	_, addr := MustStart(b, Config{ReceiptDelay: time.Millisecond})
	c := dialBench(b, addr, pdu.Transceiver)
	tmpl := submitTemplate(b, 1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	c.run(b, tmpl, b.N, b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submit+receipt/s")
}

// BenchmarkParseSubmit compares the hand parser with gosmpp's pdu.Parse on
// the same submit_sm.
func BenchmarkParseSubmit(b *testing.B) {
	raw := submitTemplate(b, 1)
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var v submitView
		for b.Loop() {
			if err := parseSubmit(raw[headerLen:], &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gosmpp", func(b *testing.B) {
		b.ReportAllocs()
		r := bytes.NewReader(raw)
		for b.Loop() {
			r.Reset(raw)
			if _, err := pdu.Parse(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResponse compares writing a submit_sm_resp by hand with gosmpp.
func BenchmarkResponse(b *testing.B) {
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf = appendSubmitResp(buf[:0], 7, 1732543212345678, false)
		}
	})
	b.Run("gosmpp", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			r := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
			r.SetSequenceNumber(7)
			r.MessageID = "1732543212345678"
			buf = appendPDU(buf[:0], r)
		}
	})
}

// BenchmarkReceipt measures building one receipt deliver_sm with gosmpp.
func BenchmarkReceipt(b *testing.B) {
	raw := submitTemplate(b, 1)[headerLen:]
	st := stats["DELIVRD"]
	r := &receipt{id: 1732543212345678, raw: raw, stat: &st, submitAt: time.Now()}
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	now := time.Now()
	for b.Loop() {
		buf = appendReceipt(buf[:0], r, 9, now, true)
	}
}
