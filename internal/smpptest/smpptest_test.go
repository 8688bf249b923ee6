package smpptest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"
	"unicode/utf16"
)

// The tests drive the peer with a minimal SMPP 3.4 client written here by hand, so
// that what the peer reports is checked against octets known exactly.

const (
	cmdGenericNack     = 0x80000000
	cmdBindReceiver    = 0x00000001
	cmdBindTransmitter = 0x00000002
	cmdSubmitSM        = 0x00000004
	cmdDeliverSM       = 0x00000005
	cmdUnbind          = 0x00000006
	cmdBindTransceiver = 0x00000009
	cmdEnquireLink     = 0x00000015
	respBit            = 0x80000000

	statusOK        = 0x00
	statusInvBndSts = 0x04
	statusBindFail  = 0x0D
	statusThrottled = 0x58

	ioTimeout = 5 * time.Second
)

type rawPDU struct {
	ID, Status, Seq uint32
	Body            []byte
}

type client struct {
	t    testing.TB
	conn net.Conn
	seq  uint32
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

func (c *client) write(id, status, seq uint32, body []byte) {
	c.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(16+len(body)))
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, status)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = append(b, body...)
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write PDU 0x%08x: %v", id, err)
	}
}

// send writes a request and returns its sequence number.
func (c *client) send(id uint32, body []byte) uint32 {
	c.t.Helper()
	c.seq++
	c.write(id, 0, c.seq, body)
	return c.seq
}

func (c *client) readErr(timeout time.Duration) (rawPDU, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	var h [16]byte
	if _, err := io.ReadFull(c.conn, h[:]); err != nil {
		return rawPDU{}, err
	}
	n := binary.BigEndian.Uint32(h[0:])
	if n < 16 || n > 64*1024 {
		return rawPDU{}, fmt.Errorf("command_length %d", n)
	}
	p := rawPDU{
		ID:     binary.BigEndian.Uint32(h[4:]),
		Status: binary.BigEndian.Uint32(h[8:]),
		Seq:    binary.BigEndian.Uint32(h[12:]),
		Body:   make([]byte, n-16),
	}
	if _, err := io.ReadFull(c.conn, p.Body); err != nil {
		return rawPDU{}, err
	}
	return p, nil
}

func (c *client) read() rawPDU {
	c.t.Helper()
	p, err := c.readErr(ioTimeout)
	if err != nil {
		c.t.Fatalf("read PDU: %v", err)
	}
	return p
}

// call sends a request and reads its response, which must come next.
func (c *client) call(id uint32, body []byte) rawPDU {
	c.t.Helper()
	seq := c.send(id, body)
	p := c.read()
	if p.ID != id|respBit || p.Seq != seq {
		c.t.Fatalf("response: command_id 0x%08x seq %d, want 0x%08x seq %d", p.ID, p.Seq, id|respBit, seq)
	}
	return p
}

func cstr(b []byte, s string) []byte { return append(append(b, s...), 0) }

func bindBody(systemID, password string) []byte {
	b := cstr(nil, systemID)
	b = cstr(b, password)
	b = cstr(b, "")                 // system_type
	b = append(b, 0x34, 0x00, 0x00) // interface_version, addr_ton, addr_npi
	return cstr(b, "")              // address_range
}

func (c *client) bind(cmd uint32, systemID, password string) uint32 {
	c.t.Helper()
	return c.call(cmd, bindBody(systemID, password)).Status
}

type tlv struct {
	Tag   uint16
	Value []byte
}

type submitSM struct {
	Src                   string
	SrcTON, SrcNPI        byte
	Dst                   string
	DstTON, DstNPI        byte
	ESMClass, RegDelivery byte
	DataCoding            byte
	ShortMessage          []byte
	TLVs                  []tlv
}

func (s submitSM) body() []byte {
	b := cstr(nil, "") // service_type
	b = append(b, s.SrcTON, s.SrcNPI)
	b = cstr(b, s.Src)
	b = append(b, s.DstTON, s.DstNPI)
	b = cstr(b, s.Dst)
	b = append(b, s.ESMClass, 0, 0) // esm_class, protocol_id, priority_flag
	b = cstr(b, "")                 // schedule_delivery_time
	b = cstr(b, "")                 // validity_period
	b = append(b, s.RegDelivery, 0, s.DataCoding, 0, byte(len(s.ShortMessage)))
	b = append(b, s.ShortMessage...)
	for _, t := range s.TLVs {
		b = binary.BigEndian.AppendUint16(b, t.Tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b
}

// submit sends a submit_sm and returns the response's status and message_id.
func (c *client) submit(s submitSM) (uint32, string) {
	c.t.Helper()
	p := c.call(cmdSubmitSM, s.body())
	if p.Status != statusOK {
		return p.Status, ""
	}
	i := bytes.IndexByte(p.Body, 0)
	if i < 0 {
		c.t.Fatalf("submit_sm_resp body %x: no message_id", p.Body)
	}
	return p.Status, string(p.Body[:i])
}

type deliverSM struct {
	Seq                  uint32
	Src                  string
	SrcTON, SrcNPI       byte
	Dst                  string
	DstTON, DstNPI       byte
	ESMClass, DataCoding byte
	ShortMessage         []byte
	TLVs                 map[uint16][]byte
}

func parseDeliverSM(t testing.TB, p rawPDU) deliverSM {
	t.Helper()
	if p.ID != cmdDeliverSM {
		t.Fatalf("got command_id 0x%08x, want deliver_sm", p.ID)
	}
	b, off := p.Body, 0
	fail := func() { t.Fatalf("truncated deliver_sm at %d: %x", off, b) }
	u8 := func() byte {
		if off >= len(b) {
			fail()
		}
		off++
		return b[off-1]
	}
	cs := func() string {
		i := bytes.IndexByte(b[off:], 0)
		if i < 0 {
			fail()
		}
		s := string(b[off : off+i])
		off += i + 1
		return s
	}
	d := deliverSM{Seq: p.Seq, TLVs: map[uint16][]byte{}}
	cs() // service_type
	d.SrcTON, d.SrcNPI, d.Src = u8(), u8(), cs()
	d.DstTON, d.DstNPI, d.Dst = u8(), u8(), cs()
	d.ESMClass = u8()
	u8()
	u8()
	cs()
	cs()
	u8()
	u8()
	d.DataCoding = u8()
	u8()
	n := int(u8())
	if off+n > len(b) {
		fail()
	}
	d.ShortMessage = b[off : off+n]
	off += n
	for off < len(b) {
		if off+4 > len(b) {
			fail()
		}
		tag, l := binary.BigEndian.Uint16(b[off:]), int(binary.BigEndian.Uint16(b[off+2:]))
		off += 4
		if off+l > len(b) {
			fail()
		}
		d.TLVs[tag] = b[off : off+l]
		off += l
	}
	return d
}

func (c *client) ackDeliver(seq, status uint32) {
	c.t.Helper()
	c.write(cmdDeliverSM|respBit, status, seq, []byte{0}) // message_id ""
}

func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

func TestSubmitReportsExactOctets(t *testing.T) {
	peer := Start(t, Options{SystemID: "otpgate", Password: "secret"})
	c := dial(t, peer.Addr)
	if st := c.bind(cmdBindTransceiver, "otpgate", "secret"); st != statusOK {
		t.Fatalf("bind_transceiver status 0x%x", st)
	}

	arabic := ucs2("رمز التحقق")
	udhPart := append([]byte{0x05, 0x00, 0x03, 0x2A, 0x02, 0x01}, ucs2("الجزء الثاني")...)
	cases := []struct {
		name string
		sm   submitSM
	}{
		{"gsm alphanumeric sender", submitSM{
			Src: "MyApp", SrcTON: 5, SrcNPI: 0, Dst: "962791234567", DstTON: 1, DstNPI: 1,
			RegDelivery: 1, DataCoding: 0, ShortMessage: []byte("hello")}},
		{"ucs2 arabic", submitSM{
			Src: "962790000001", SrcTON: 1, SrcNPI: 1, Dst: "962781234567", DstTON: 1, DstNPI: 1,
			DataCoding: 8, ShortMessage: arabic}},
		{"udh concatenated part", submitSM{
			Src: "MyApp", SrcTON: 5, Dst: "962771234567", DstTON: 1, DstNPI: 1,
			ESMClass: 0x40, DataCoding: 8, ShortMessage: udhPart}},
		// Octets node-smpp's own text decoding would change: an unknown GSM
		// octet, an escape, NUL, and an odd-length UCS-2 body.
		{"gsm octets the library would rewrite", submitSM{
			Src: "MyApp", SrcTON: 5, Dst: "962791234567", DstTON: 1, DstNPI: 1,
			DataCoding: 0, ShortMessage: []byte{0x1B, 0x65, 0x80, 0xFF, 0x00, 'x'}}},
		{"odd-length ucs2", submitSM{
			Src: "MyApp", SrcTON: 5, Dst: "962791234567", DstTON: 1, DstNPI: 1,
			DataCoding: 8, ShortMessage: []byte{0x06, 0x45, 0x06}}},
		{"sar and message_payload tlvs", submitSM{
			Src: "MyApp", SrcTON: 5, Dst: "962791234567", DstTON: 1, DstNPI: 1,
			DataCoding: 8, TLVs: []tlv{
				{0x020C, []byte{0x00, 0x2A}},
				{0x020E, []byte{0x02}},
				{0x020F, []byte{0x01}},
				{0x0424, arabic},
				{0x1401, []byte("vendor")},
			}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			st, id := c.submit(tc.sm)
			if want := strconv.Itoa(i + 1); st != statusOK || id != want {
				t.Fatalf("submit_sm_resp: status 0x%x id %q, want 0 %q", st, id, want)
			}
			got := peer.WaitSubmits(t, i+1, ioTimeout)[i]
			s := tc.sm
			if got.MessageID != id || got.SystemID != "otpgate" || got.CommandStatus != 0 {
				t.Errorf("message_id %q system_id %q status %d", got.MessageID, got.SystemID, got.CommandStatus)
			}
			if got.Source != s.Src || got.SourceTON != s.SrcTON || got.SourceNPI != s.SrcNPI {
				t.Errorf("source %q %d/%d, want %q %d/%d", got.Source, got.SourceTON, got.SourceNPI, s.Src, s.SrcTON, s.SrcNPI)
			}
			if got.Dest != s.Dst || got.DestTON != s.DstTON || got.DestNPI != s.DstNPI {
				t.Errorf("dest %q %d/%d, want %q %d/%d", got.Dest, got.DestTON, got.DestNPI, s.Dst, s.DstTON, s.DstNPI)
			}
			if got.ESMClass != s.ESMClass || got.DataCoding != s.DataCoding || got.RegisteredDelivery != s.RegDelivery {
				t.Errorf("esm_class 0x%x data_coding %d registered_delivery %d, want 0x%x %d %d",
					got.ESMClass, got.DataCoding, got.RegisteredDelivery, s.ESMClass, s.DataCoding, s.RegDelivery)
			}
			if !bytes.Equal(got.ShortMessage, s.ShortMessage) {
				t.Errorf("short_message\n got %x\nwant %x", got.ShortMessage, s.ShortMessage)
			}
			if len(got.TLVs) != len(s.TLVs) || len(got.TLVTags) != len(s.TLVs) {
				t.Errorf("TLVs %x (order %x), want %d", got.TLVs, got.TLVTags, len(s.TLVs))
			}
			for j, w := range s.TLVs {
				if v, ok := got.TLVs[w.Tag]; !ok || !bytes.Equal(v, w.Value) {
					t.Errorf("TLV 0x%04x = %x, want %x", w.Tag, v, w.Value)
				}
				if j < len(got.TLVTags) && got.TLVTags[j] != w.Tag {
					t.Errorf("TLV %d is 0x%04x, want 0x%04x", j, got.TLVTags[j], w.Tag)
				}
			}
		})
	}
}

func TestBindAndSession(t *testing.T) {
	peer := Start(t, Options{SystemID: "otpgate", Password: "secret"})

	t.Run("wrong password", func(t *testing.T) {
		c := dial(t, peer.Addr)
		if st := c.bind(cmdBindTransceiver, "otpgate", "wrong"); st != statusBindFail {
			t.Fatalf("status 0x%x, want ESME_RBINDFAIL", st)
		}
	})
	t.Run("submit before bind", func(t *testing.T) {
		c := dial(t, peer.Addr)
		if st, _ := c.submit(submitSM{Src: "MyApp", SrcTON: 5, Dst: "962791234567", ShortMessage: []byte("x")}); st != statusInvBndSts {
			t.Fatalf("status 0x%x, want ESME_RINVBNDSTS", st)
		}
	})
	t.Run("enquire_link and unbind", func(t *testing.T) {
		c := dial(t, peer.Addr)
		if st := c.bind(cmdBindTransmitter, "otpgate", "secret"); st != statusOK {
			t.Fatalf("bind status 0x%x", st)
		}
		if p := c.call(cmdEnquireLink, nil); p.Status != statusOK {
			t.Fatalf("enquire_link_resp status 0x%x", p.Status)
		}
		if p := c.call(cmdUnbind, nil); p.Status != statusOK {
			t.Fatalf("unbind_resp status 0x%x", p.Status)
		}
		if _, err := c.readErr(ioTimeout); !errors.Is(err, io.EOF) {
			t.Fatalf("after unbind_resp: %v, want EOF", err)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		c := dial(t, peer.Addr)
		seq := c.send(0x00000077, nil)
		if p := c.read(); p.ID != cmdGenericNack || p.Seq != seq || p.Status != 0x03 {
			t.Fatalf("got 0x%08x seq %d status 0x%x, want generic_nack ESME_RINVCMDID", p.ID, p.Seq, p.Status)
		}
	})
	binds := peer.Binds()
	if len(binds) != 2 || binds[0].CommandStatus != statusBindFail || binds[1].Command != "bind_transmitter" {
		t.Errorf("binds %+v", binds)
	}
}

var receiptText = regexp.MustCompile(`^id:(\S+) sub:001 dlvrd:(\d{3}) submit date:\d{10} done date:\d{10} stat:(\w+) err:(\d{3}) text:(.*)$`)

func TestReceipt(t *testing.T) {
	cases := []struct {
		name       string
		opt        Options
		stat, err  string
		textID     string // "" for the message id
		wantID     string // submit_sm_resp message_id
		wantTextID string
		wantState  byte
		wantDlvrd  string
	}{
		{"delivered", Options{}, "DELIVRD", "000", "", "1", "1", 2, "001"},
		{"undeliverable", Options{}, "UNDELIV", "001", "", "1", "1", 5, "000"},
		{"hex id in resp, decimal in text", Options{HexIDs: true, FirstID: 0xABCDEF}, "DELIVRD", "000", "11259375", "abcdef", "11259375", 2, "001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer := Start(t, tc.opt)
			c := dial(t, peer.Addr)
			if st := c.bind(cmdBindTransceiver, "any", "any"); st != statusOK {
				t.Fatalf("bind status 0x%x", st)
			}
			_, id := c.submit(submitSM{Src: "MyApp", SrcTON: 5, Dst: "962791234567", DstTON: 1, DstNPI: 1,
				RegDelivery: 1, ShortMessage: []byte("Your code is 123456")})
			if id != tc.wantID {
				t.Fatalf("message_id %q, want %q", id, tc.wantID)
			}
			if tc.textID == "" {
				peer.Receipt(t, id, tc.stat, tc.err)
			} else {
				peer.ReceiptWithTextID(t, id, tc.textID, tc.stat, tc.err)
			}
			d := parseDeliverSM(t, c.read())
			if d.ESMClass != 0x04 {
				t.Errorf("esm_class 0x%x, want 0x04", d.ESMClass)
			}
			if d.Src != "962791234567" || d.SrcTON != 1 || d.SrcNPI != 1 || d.Dst != "MyApp" || d.DstTON != 5 {
				t.Errorf("addresses %q %d/%d -> %q %d/%d", d.Src, d.SrcTON, d.SrcNPI, d.Dst, d.DstTON, d.DstNPI)
			}
			m := receiptText.FindStringSubmatch(string(d.ShortMessage))
			if m == nil {
				t.Fatalf("receipt text %q", d.ShortMessage)
			}
			if m[1] != tc.wantTextID || m[2] != tc.wantDlvrd || m[3] != tc.stat || m[4] != tc.err || m[5] != "Your code is 123456" {
				t.Errorf("receipt text %q", d.ShortMessage)
			}
			if got, want := d.TLVs[0x001E], append([]byte(id), 0); !bytes.Equal(got, want) {
				t.Errorf("receipted_message_id %q, want %q", got, want)
			}
			if got := d.TLVs[0x0427]; !bytes.Equal(got, []byte{tc.wantState}) {
				t.Errorf("message_state %x, want %x", got, tc.wantState)
			}
			c.ackDeliver(d.Seq, statusOK)
			acks := peer.WaitDeliverAcks(t, 1, ioTimeout)
			if a := acks[0]; a.SequenceNumber != d.Seq || a.CommandStatus != 0 || a.Kind != "receipt" || a.MessageID != id {
				t.Errorf("ack %+v, want seq %d receipt %q", a, d.Seq, id)
			}
		})
	}
}

func TestReceiptGoesToReceiverOfSameSystemID(t *testing.T) {
	peer := Start(t, Options{})
	tx := dial(t, peer.Addr)
	if st := tx.bind(cmdBindTransmitter, "otpgate", ""); st != statusOK {
		t.Fatalf("bind_transmitter 0x%x", st)
	}
	other := dial(t, peer.Addr)
	if st := other.bind(cmdBindReceiver, "someone-else", ""); st != statusOK {
		t.Fatalf("bind_receiver 0x%x", st)
	}
	rx := dial(t, peer.Addr)
	if st := rx.bind(cmdBindReceiver, "otpgate", ""); st != statusOK {
		t.Fatalf("bind_receiver 0x%x", st)
	}
	_, id := tx.submit(submitSM{Src: "MyApp", SrcTON: 5, Dst: "962791234567", DstTON: 1, DstNPI: 1, RegDelivery: 1, ShortMessage: []byte("hi")})
	peer.SendReceipt(t, ReceiptSpec{MessageID: id, NoTLVs: true})
	d := parseDeliverSM(t, rx.read())
	if d.ESMClass != 0x04 || len(d.TLVs) != 0 || !bytes.Contains(d.ShortMessage, []byte("id:"+id+" ")) {
		t.Errorf("receipt esm_class 0x%x TLVs %x text %q", d.ESMClass, d.TLVs, d.ShortMessage)
	}
	if _, err := other.readErr(200 * time.Millisecond); !isTimeout(err) {
		t.Errorf("the other system_id's receiver got something: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestThrottle(t *testing.T) {
	peer := Start(t, Options{})
	c := dial(t, peer.Addr)
	if st := c.bind(cmdBindTransceiver, "otpgate", ""); st != statusOK {
		t.Fatalf("bind status 0x%x", st)
	}
	sm := submitSM{Src: "MyApp", SrcTON: 5, Dst: "962791234567", DstTON: 1, DstNPI: 1, ShortMessage: []byte("x")}
	peer.Throttle(t, 2)
	var got []uint32
	for range 4 {
		st, _ := c.submit(sm)
		got = append(got, st)
	}
	peer.Throttle(t, 0)
	st, id := c.submit(sm)
	got = append(got, st)
	want := []uint32{0, statusThrottled, 0, statusThrottled, 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if id != "3" {
		t.Errorf("message_id after throttling %q, want 3 (throttled submits get no id)", id)
	}
	subs := peer.WaitSubmits(t, 5, ioTimeout)
	if subs[1].CommandStatus != statusThrottled || subs[1].MessageID != "" || subs[2].MessageID != "2" {
		t.Errorf("peer's submits %+v", subs)
	}
}

func TestDrop(t *testing.T) {
	peer := Start(t, Options{})
	c := dial(t, peer.Addr)
	if st := c.bind(cmdBindTransceiver, "otpgate", ""); st != statusOK {
		t.Fatalf("bind status 0x%x", st)
	}
	peer.Drop(t)
	if _, err := c.readErr(ioTimeout); err == nil || isTimeout(err) {
		t.Fatalf("read after drop: %v, want the connection closed", err)
	}
	c2 := dial(t, peer.Addr)
	if st := c2.bind(cmdBindTransceiver, "otpgate", ""); st != statusOK {
		t.Fatalf("re-bind after drop: status 0x%x", st)
	}
	if len(peer.WaitBinds(t, 2, ioTimeout)) != 2 {
		t.Fatal("binds")
	}
}

func TestMO(t *testing.T) {
	peer := Start(t, Options{})
	c := dial(t, peer.Addr)
	if st := c.bind(cmdBindReceiver, "otpgate", ""); st != statusOK {
		t.Fatalf("bind status 0x%x", st)
	}
	udh := []byte{0x05, 0x00, 0x03, 0x2A, 0x02, 0x01}
	cases := []struct {
		name       string
		dc         byte
		sm, udh    []byte
		wantESM    byte
		wantFields []byte
	}{
		{"gsm", 0, []byte("STOP"), nil, 0x00, []byte("STOP")},
		{"ucs2 with udh", 8, ucs2("نعم"), udh, 0x40, append(append([]byte(nil), udh...), ucs2("نعم")...)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			seq := peer.MO(t, "962791234567", "5555", tc.dc, tc.sm, tc.udh)
			d := parseDeliverSM(t, c.read())
			if d.Seq != seq || d.ESMClass != tc.wantESM || d.DataCoding != tc.dc || !bytes.Equal(d.ShortMessage, tc.wantFields) {
				t.Errorf("deliver_sm seq %d esm_class 0x%x data_coding %d sm %x, want seq %d 0x%x %d %x",
					d.Seq, d.ESMClass, d.DataCoding, d.ShortMessage, seq, tc.wantESM, tc.dc, tc.wantFields)
			}
			if d.Src != "962791234567" || d.Dst != "5555" {
				t.Errorf("addresses %q -> %q", d.Src, d.Dst)
			}
			c.ackDeliver(d.Seq, statusOK)
			if a := peer.WaitDeliverAcks(t, i+1, ioTimeout)[i]; a.SequenceNumber != seq || a.Kind != "mo" {
				t.Errorf("ack %+v", a)
			}
		})
	}
}

func TestAutoReceipt(t *testing.T) {
	peer := Start(t, Options{})
	c := dial(t, peer.Addr)
	if st := c.bind(cmdBindTransceiver, "otpgate", ""); st != statusOK {
		t.Fatalf("bind status 0x%x", st)
	}
	peer.AutoReceipt(t, "DELIVRD", 20*time.Millisecond)
	sm := submitSM{Src: "MyApp", SrcTON: 5, Dst: "962791234567", DstTON: 1, DstNPI: 1, ShortMessage: []byte("x")}
	_, _ = c.submit(sm) // registered_delivery 0: no receipt
	sm.RegDelivery = 1
	_, id := c.submit(sm)
	d := parseDeliverSM(t, c.read())
	if d.ESMClass != 0x04 || !bytes.Equal(d.TLVs[0x001E], append([]byte(id), 0)) {
		t.Fatalf("auto receipt esm_class 0x%x receipted_message_id %q, want %q", d.ESMClass, d.TLVs[0x001E], id)
	}
	c.ackDeliver(d.Seq, statusOK)
	if p, err := c.readErr(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("unexpected PDU 0x%08x %x (%v): registered_delivery 0 got a receipt", p.ID, p.Body, err)
	}
	peer.AutoReceipt(t, "", 0)
	_, _ = c.submit(sm)
	if p, err := c.readErr(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("unexpected PDU 0x%08x (%v) with auto receipts off", p.ID, err)
	}
}
