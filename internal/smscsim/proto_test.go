package smscsim

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// rawPDU builds a PDU from a command id and a body, command_length correct.
func rawPDU(cmd, seq uint32, body []byte) []byte {
	b := appendHeader(nil, uint32(headerLen+len(body)), cmd, 0, seq)
	return append(b, body...)
}

func TestSubmitNeedsTransmitterBind(t *testing.T) {
	_, addr := MustStart(t, Config{})
	c := dialRaw(t, addr)
	seq := c.send(gsm("hi").pdu(t))
	c.expect(cmdSubmitSMResp, statusInvBndSts, seq)

	c.mustBind(pdu.Receiver, "otp")
	seq = c.send(gsm("hi").pdu(t))
	c.expect(cmdSubmitSMResp, statusInvBndSts, seq)
}

func TestEnquireLinkAndUnbind(t *testing.T) {
	_, addr := MustStart(t, Config{})
	c := dialRaw(t, addr)
	seq := c.send(pdu.NewEnquireLink())
	c.expect(cmdEnquireLinkResp, 0, seq) // answered before bind too
	c.mustBind(pdu.Transceiver, "otp")
	seq = c.send(pdu.NewEnquireLink())
	c.expect(cmdEnquireLinkResp, 0, seq)
	seq = c.send(pdu.NewUnbind())
	c.expect(cmdUnbindResp, 0, seq)
	c.expectClosed()
}

func TestMalformedPDUs(t *testing.T) {
	valid := func() []byte {
		b := pdu.NewBuffer(nil)
		gsm("hello").pdu(t).Marshal(b)
		return b.Bytes()[headerLen:]
	}
	tests := []struct {
		name       string
		pdu        []byte
		wantStatus uint32
		wantClosed bool
	}{
		{"submit_sm without NUL", rawPDU(cmdSubmitSM, 7, []byte("abc")), statusInvCmdLen, false},
		{"submit_sm truncated short_message", rawPDU(cmdSubmitSM, 7, valid()[:len(valid())-2]), statusInvCmdLen, false},
		{"submit_sm TLV overruns", rawPDU(cmdSubmitSM, 7, append(valid(), 0x04, 0x24, 0x00, 0x10, 'x')), statusInvCmdLen, false},
		{"bind without NUL", rawPDU(cmdBindTransmitter, 7, []byte("otp")), statusInvCmdLen, false},
		{"unknown command", rawPDU(0x00000099, 7, nil), statusInvCmdID, false},
		{"deliver_sm from the ESME", rawPDU(cmdDeliverSM, 7, valid()), statusInvCmdID, false},
		{"command_length below 16", appendHeader(nil, 8, cmdEnquireLink, 0, 7), statusInvCmdLen, true},
		{"command_length huge", appendHeader(nil, 0x7FFFFFFF, cmdSubmitSM, 0, 7), statusInvCmdLen, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := MustStart(t, Config{})
			c := dialRaw(t, addr)
			c.mustBind(pdu.Transceiver, "otp")
			c.write(tt.pdu)
			c.expect(cmdGenericNack, tt.wantStatus, 7)
			if tt.wantClosed {
				c.expectClosed()
				return
			}
			// Framing intact: the session goes on.
			seq := c.send(gsm("after").pdu(t))
			c.expect(cmdSubmitSMResp, 0, seq)
		})
	}
}

func TestSubmitValidation(t *testing.T) {
	tests := []struct {
		name       string
		mod        func(*submitArgs)
		wantStatus uint32
	}{
		{"empty destination", func(a *submitArgs) { a.dst = "" }, statusInvDstAdr},
		{"source of 21 characters", func(a *submitArgs) { a.src = "123456789012345678901" }, statusInvSrcAdr},
		{"UDHI without a UDH", func(a *submitArgs) { a.esm = 0x40; a.sm = []byte{0x05, 0x00} }, statusInvEsmClass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := MustStart(t, Config{})
			c := dialRaw(t, addr)
			c.mustBind(pdu.Transmitter, "otp")
			a := gsm("hi")
			tt.mod(&a)
			seq := c.send(a.pdu(t))
			c.expect(cmdSubmitSMResp, tt.wantStatus, seq)
			if len(s.Submits()) != 0 || s.Count() != 1 {
				t.Errorf("Submits() %d, Count() %d; want 0, 1", len(s.Submits()), s.Count())
			}
		})
	}
}

func TestThrottleEvery(t *testing.T) {
	s, addr := MustStart(t, Config{ThrottleEvery: 2})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transmitter, "otp")
	var seqs []uint32
	for range 6 {
		seqs = append(seqs, c.send(gsm("code").pdu(t)))
	}
	for i, seq := range seqs {
		want := statusOK
		if i%2 == 1 {
			want = statusThrottled
		}
		c.expect(cmdSubmitSMResp, want, seq)
	}
	s.SetThrottle(0)
	for range 3 {
		c.submitID(gsm("code"))
	}
	if s.Count() != 9 || len(s.Submits()) != 6 {
		t.Errorf("Count() = %d, Submits() has %d; want 9, 6", s.Count(), len(s.Submits()))
	}
}

func TestMaxTPS(t *testing.T) {
	_, addr := MustStart(t, Config{MaxTPS: 5})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transmitter, "otp")
	var seqs []uint32
	for range 10 {
		seqs = append(seqs, c.send(gsm("code").pdu(t)))
	}
	ok := 0
	for _, seq := range seqs {
		f := c.read()
		if f.seq != seq {
			t.Fatalf("seq %d, want %d", f.seq, seq)
		}
		if f.status == statusOK {
			ok++
		} else if f.status != statusThrottled {
			t.Fatalf("status 0x%X", f.status)
		}
	}
	if ok != 5 {
		t.Errorf("%d of 10 accepted in a burst, want 5", ok)
	}
}

func TestDropAfter(t *testing.T) {
	s, addr := MustStart(t, Config{DropAfter: 3})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transmitter, "otp")
	var seqs []uint32
	for range 5 {
		seqs = append(seqs, c.send(gsm("code").pdu(t)))
	}
	for _, seq := range seqs[:3] {
		c.expect(cmdSubmitSMResp, 0, seq)
	}
	c.expectClosed()
	if s.Count() != 3 {
		t.Errorf("Count() = %d, want 3", s.Count())
	}
	c2 := dialRaw(t, addr)
	c2.mustBind(pdu.Transmitter, "otp")
	c2.submitID(gsm("again"))
}

func TestDropAll(t *testing.T) {
	s, addr := MustStart(t, Config{})
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.mustBind(pdu.Transmitter, "otp")
	b.mustBind(pdu.Receiver, "otp")
	a.submitID(gsm("one"))
	s.DropAll()
	a.expectClosed()
	b.expectClosed()
	if err := s.SendMO("962791234567", "otp", 0, []byte("x"), nil); err == nil {
		t.Error("SendMO after DropAll: want an error, no receiver is bound")
	}
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transceiver, "otp")
	c.submitID(gsm("two"))
	if s.Binds() != 3 {
		t.Errorf("Binds() = %d, want 3", s.Binds())
	}
}

func TestCloseTwice(t *testing.T) {
	s, addr := MustStart(t, Config{})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transmitter, "otp")
	c.submitID(gsm("x"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c.expectClosed()
	if len(s.Submits()) != 1 {
		t.Errorf("Submits() after Close has %d", len(s.Submits()))
	}
	if _, err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("Start after Close: want an error")
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"unknown outcome", Config{Outcomes: map[string]float64{"DELIVERED": 1}}},
		{"negative weight", Config{Outcomes: map[string]float64{"DELIVRD": -1}}},
		{"zero weights", Config{Outcomes: map[string]float64{"DELIVRD": 0}}},
		{"negative delay", Config{ReceiptDelay: -time.Second}},
		{"negative throttle", Config{ThrottleEvery: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg)
			if addr, err := s.Start("127.0.0.1:0"); err == nil {
				_ = s.Close()
				t.Fatalf("Start = %v, want an error", addr)
			}
		})
	}
}

// readReceipt reads a deliver_sm and returns it with its text and TLVs.
func readReceipt(tb testing.TB, c *rawClient) (f frame, text, rid string, state byte) {
	tb.Helper()
	f = c.read()
	if f.cmd != cmdDeliverSM {
		tb.Fatalf("got %s, want deliver_sm", cmdName(f.cmd))
	}
	d := f.parse(tb).(*pdu.DeliverSM)
	if d.EsmClass != 0x04 {
		tb.Fatalf("esm_class 0x%02X, want 0x04", d.EsmClass)
	}
	msg, _ := d.Message.GetMessageData()
	r := d.OptionalParameters[pdu.TagReceiptedMessageID]
	st := d.OptionalParameters[pdu.TagMessageStateOption].Data
	if len(st) != 1 {
		tb.Fatalf("message_state TLV % x", st)
	}
	return f, string(msg), r.String(), st[0]
}

func ack(c *rawClient, f frame, status uint32) {
	b := appendHeader(nil, headerLen+1, cmdDeliverSMResp, status, f.seq)
	c.write(append(b, 0))
}

func TestReceiptWaitsForReceiverOfSameSystemID(t *testing.T) {
	_, addr := MustStart(t, Config{ReceiptDelay: time.Millisecond})
	tx := dialRaw(t, addr)
	tx.mustBind(pdu.Transmitter, "otp")
	a := gsm("code 1")
	a.rd = 1
	id := tx.submitID(a)
	time.Sleep(20 * time.Millisecond) // due, nobody to take it

	other := dialRaw(t, addr)
	other.mustBind(pdu.Receiver, "someone-else")
	rx := dialRaw(t, addr)
	rx.mustBind(pdu.Receiver, "otp")
	f, _, rid, _ := readReceipt(t, rx)
	if rid != id {
		t.Fatalf("receipt for %q, want %q", rid, id)
	}
	ack(rx, f, 0)
	seq := other.send(pdu.NewEnquireLink())
	other.expect(cmdEnquireLinkResp, 0, seq) // and no receipt before it
}

func TestUnacknowledgedReceiptResentOnReconnect(t *testing.T) {
	_, addr := MustStart(t, Config{ReceiptDelay: time.Millisecond})
	c1 := dialRaw(t, addr)
	c1.mustBind(pdu.Transceiver, "otp")
	a := gsm("code 2")
	a.rd = 1
	id := c1.submitID(a)
	_, _, rid, _ := readReceipt(t, c1)
	if rid != id {
		t.Fatalf("receipt for %q, want %q", rid, id)
	}
	_ = c1.conn.Close() // without deliver_sm_resp

	c2 := dialRaw(t, addr)
	c2.mustBind(pdu.Transceiver, "otp")
	f, _, rid, _ := readReceipt(t, c2)
	if rid != id {
		t.Fatalf("resent receipt for %q, want %q", rid, id)
	}
	ack(c2, f, 0)
	seq := c2.send(pdu.NewEnquireLink())
	c2.expect(cmdEnquireLinkResp, 0, seq)
}

func TestRefusedReceiptIsRetried(t *testing.T) {
	_, addr := MustStart(t, Config{ReceiptDelay: time.Millisecond})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transceiver, "otp")
	a := gsm("code 3")
	a.rd = 1
	id := c.submitID(a)
	f, _, _, _ := readReceipt(t, c)
	start := time.Now()
	ack(c, f, uint32(data.ESME_RTHROTTLED))
	f, _, rid, _ := readReceipt(t, c)
	if rid != id || time.Since(start) < retryDelay/2 {
		t.Fatalf("retry for %q after %v, want %q after about %v", rid, time.Since(start), id, retryDelay)
	}
	ack(c, f, 0)
}

func TestMultipartReceipts(t *testing.T) {
	// The receipts come after both submit_sm_resp (which submitID reads
	// next), even on a loaded machine.
	s, addr := MustStart(t, Config{ReceiptDelay: 300 * time.Millisecond})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transceiver, "otp")
	var ids []string
	for part := byte(1); part <= 2; part++ {
		a := gsm("")
		a.esm, a.rd = 0x40, 1
		a.sm = append([]byte{0x05, 0x00, 0x03, 0x7F, 0x02, part}, "part text"...)
		ids = append(ids, c.submitID(a))
	}
	if ids[0] == ids[1] {
		t.Fatalf("both parts got id %q", ids[0])
	}
	var got []string
	for range 2 {
		f, text, rid, _ := readReceipt(t, c)
		if m := receiptText.FindStringSubmatch(text); m == nil || m[7] != "part text" {
			t.Errorf("receipt text %q (the UDH must not show)", text)
		}
		got = append(got, rid)
		ack(c, f, 0)
	}
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("receipts for %v, want %v", got, ids)
	}
	if subs := s.Submits(); len(subs) != 2 || subs[0].ShortMessage[0] != 0x05 {
		t.Errorf("Submits() must keep the UDH: %+v", subs)
	}
}

func TestReceiptOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		outcomes map[string]float64
		rd       byte
		submits  int
		want     map[string]int // stat -> receipts
	}{
		{"default all delivered", nil, 1, 3, map[string]int{"DELIVRD": 3}},
		{"half undelivered", map[string]float64{"DELIVRD": 0.5, "UNDELIV": 0.5}, 1, 4, map[string]int{"DELIVRD": 2, "UNDELIV": 2}},
		{"failures only", map[string]float64{"DELIVRD": 0.5, "UNDELIV": 0.5}, 2, 4, map[string]int{"UNDELIV": 2}},
		{"expired", map[string]float64{"EXPIRED": 1}, 1, 1, map[string]int{"EXPIRED": 1}},
		{"rejected", map[string]float64{"REJECTD": 1}, 1, 1, map[string]int{"REJECTD": 1}},
		{"none asked", nil, 0, 2, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := MustStart(t, Config{Outcomes: tt.outcomes, ReceiptDelay: time.Millisecond})
			c := dialRaw(t, addr)
			c.mustBind(pdu.Transceiver, "otp")
			// Receipts (1ms) may come before later submit_sm_resp: read
			// both as they come.
			for range tt.submits {
				a := gsm("code")
				a.rd = tt.rd
				c.send(a.pdu(t))
			}
			time.Sleep(50 * time.Millisecond)
			seq := c.send(pdu.NewEnquireLink())
			got := map[string]int{}
			resps := 0
			for {
				f := c.read()
				if f.cmd == cmdEnquireLinkResp && f.seq == seq {
					break
				}
				if f.cmd == cmdSubmitSMResp {
					if f.status != 0 {
						t.Fatalf("submit_sm_resp status 0x%X", f.status)
					}
					resps++
					continue
				}
				d := f.parse(t).(*pdu.DeliverSM)
				text, _ := d.Message.GetMessageData()
				m := receiptText.FindStringSubmatch(string(text))
				if m == nil {
					t.Fatalf("receipt text %q", text)
				}
				if st := d.OptionalParameters[pdu.TagMessageStateOption].Data[0]; st != stats[m[5]].state {
					t.Errorf("stat %s with message_state %d", m[5], st)
				}
				got[m[5]]++
				ack(c, f, 0)
			}
			if resps != tt.submits {
				t.Fatalf("%d submit_sm_resp, want %d", resps, tt.submits)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("receipts %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("receipts %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// A PDU larger than the read buffer takes the slow path and still works.
func TestLargePDU(t *testing.T) {
	s, addr := MustStart(t, Config{})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transmitter, "otp")
	a := gsm("")
	big := make([]byte, readBufSize+1000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	a.tlvs = map[uint16][]byte{0x1400: big}
	c.submitID(a)
	if got := s.Submits()[0].TLVs[0x1400]; len(got) != len(big) {
		t.Errorf("TLV of %d bytes, want %d", len(got), len(big))
	}
}

// recObserver records what an Observer is told.
type recObserver struct {
	mu     sync.Mutex
	events []string
	times  []time.Time
}

func (o *recObserver) Submitted(dest string, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "submit "+dest)
	o.times = append(o.times, at)
}

func (o *recObserver) ReceiptAnswered(dest string, status uint32, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, fmt.Sprintf("receipt %s 0x%X", dest, status))
	o.times = append(o.times, at)
}

// The observer hears of accepted submit_sm (not throttled ones) with their
// destination, and of each answer to a receipt with its status.
func TestObserver(t *testing.T) {
	o := &recObserver{}
	// The receipt comes after the second submit_sm_resp (expected next),
	// even on a loaded machine.
	_, addr := MustStart(t, Config{ReceiptDelay: 300 * time.Millisecond, ThrottleEvery: 2, Observer: o})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transceiver, "otp")
	start := time.Now()
	a := gsm("code 4")
	a.rd = 1
	a.dst = "962791111111"
	c.submitID(a)
	b := a
	b.dst = "962792222222"
	seq := c.send(b.pdu(t))
	c.expect(cmdSubmitSMResp, statusThrottled, seq)
	f, _, _, _ := readReceipt(t, c)
	ack(c, f, uint32(data.ESME_RTHROTTLED))
	seq = c.send(pdu.NewEnquireLink())
	c.expect(cmdEnquireLinkResp, 0, seq) // the ack was read before it
	end := time.Now()

	o.mu.Lock()
	defer o.mu.Unlock()
	want := []string{"submit 962791111111", "receipt 962791111111 0x58"}
	if !slices.Equal(o.events, want) {
		t.Fatalf("events = %q, want %q", o.events, want)
	}
	for i, at := range o.times {
		if at.Before(start) || at.After(end) || (i > 0 && at.Before(o.times[i-1])) {
			t.Errorf("event %d at %v, want in order between %v and %v", i, at, start, end)
		}
	}
}
