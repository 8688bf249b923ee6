package smscsim

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/otpgate/otpgate/internal/syncbuf"
)

func TestBind(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		kind       pdu.BindingType
		sys, pass  string
		wantStatus data.CommandStatusType // 0: bound
	}{
		{"any credentials when unset", Config{}, pdu.Transceiver, "whoever", "x", 0},
		{"right password TX", Config{SystemID: "otp", Password: "s3cret"}, pdu.Transmitter, "otp", "s3cret", 0},
		{"right password RX", Config{SystemID: "otp", Password: "s3cret"}, pdu.Receiver, "otp", "s3cret", 0},
		{"right password TRX", Config{SystemID: "otp", Password: "s3cret"}, pdu.Transceiver, "otp", "s3cret", 0},
		{"wrong password TX", Config{SystemID: "otp", Password: "s3cret"}, pdu.Transmitter, "otp", "nope", data.ESME_RBINDFAIL},
		{"wrong system_id RX", Config{SystemID: "otp", Password: "s3cret"}, pdu.Receiver, "other", "s3cret", data.ESME_RBINDFAIL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := MustStart(t, tt.cfg)
			g, err := dialGosmpp(t, addr, tt.kind, tt.sys, tt.pass)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("bind: %v", err)
				}
				if got := g.sess.Transceiver().SystemID(); got != "otpgate-sim" {
					t.Errorf("bind_resp system_id = %q, want otpgate-sim", got)
				}
				if s.Binds() != 1 {
					t.Errorf("Binds() = %d, want 1", s.Binds())
				}
				return
			}
			var be gosmpp.BindError
			if !errors.As(err, &be) || be.CommandStatus != tt.wantStatus {
				t.Fatalf("bind error = %v, want BindError %v", err, tt.wantStatus)
			}
			if s.Binds() != 0 {
				t.Errorf("Binds() = %d, want 0", s.Binds())
			}
		})
	}
}

// A refused bind_resp has no body (SMPP 3.4 4.1.2); gosmpp's TRX connector
// then fails to parse it instead of returning a BindError, so the raw
// status is checked here.
func TestBindWrongPasswordTRX(t *testing.T) {
	s, addr := MustStart(t, Config{SystemID: "otp", Password: "s3cret"})
	c := dialRaw(t, addr)
	if st := c.bind(pdu.Transceiver, "otp", "wrong"); st != uint32(data.ESME_RBINDFAIL) {
		t.Fatalf("status 0x%X, want 0x0D", st)
	}
	if st := c.bind(pdu.Transceiver, "otp", "s3cret"); st != 0 {
		t.Fatalf("retry with the right password: status 0x%X", st)
	}
	if st := c.bind(pdu.Transceiver, "otp", "s3cret"); st != uint32(data.ESME_RALYBND) {
		t.Fatalf("second bind: status 0x%X, want ESME_RALYBND", st)
	}
	if s.Binds() != 1 {
		t.Errorf("Binds() = %d, want 1", s.Binds())
	}
}

func TestSubmitsRecorded(t *testing.T) {
	ucs2 := []byte{0x06, 0x45, 0x06, 0x31, 0x06, 0x2D, 0x06, 0x28, 0x06, 0x27, 0x00, 0x20, 0xD8, 0x3D, 0xDE, 0x00} // "مرحبا 😀"
	udh := append([]byte{0x05, 0x00, 0x03, 0x2A, 0x02, 0x01}, "first half "...)
	tests := []struct {
		name string
		args submitArgs
	}{
		{"GSM", submitArgs{srcTON: 5, src: "otpgate", dstTON: 1, dstNPI: 1, dst: "962791234567", dc: 0, rd: 1,
			sm: []byte("Your code is 123456 {€}")}},
		{"UCS-2", submitArgs{srcTON: 1, srcNPI: 1, src: "962700000000", dstTON: 1, dstNPI: 1, dst: "962781234567", dc: 8,
			sm: ucs2}},
		{"UDH part", submitArgs{srcTON: 5, src: "otpgate", dstTON: 1, dstNPI: 1, dst: "962771234567", esm: 0x40,
			sm: udh}},
		{"SAR and payload TLVs", submitArgs{srcTON: 5, src: "otpgate", dstTON: 1, dstNPI: 1, dst: "962771234567", dc: 8,
			tlvs: map[uint16][]byte{0x020C: {0x01, 0x02}, 0x020E: {2}, 0x020F: {1}, 0x0424: ucs2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := MustStart(t, Config{})
			g, err := dialGosmpp(t, addr, pdu.Transceiver, "otp", "pw")
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			if err := g.sess.Transceiver().Submit(tt.args.pdu(t)); err != nil {
				t.Fatal(err)
			}
			resp := next[*pdu.SubmitSMResp](t, g)
			if !resp.IsOk() {
				t.Fatalf("submit_sm_resp status %v", resp.CommandStatus)
			}
			subs := s.Submits()
			if len(subs) != 1 || s.Count() != 1 {
				t.Fatalf("Submits() has %d, Count() = %d; want 1, 1", len(subs), s.Count())
			}
			got := subs[0]
			if got.At.Before(before.Add(-time.Second)) || got.At.After(time.Now()) {
				t.Errorf("At = %v, not around now", got.At)
			}
			got.At = time.Time{}
			want := Submit{
				MessageID: resp.MessageID, SystemID: "otp",
				SourceTON: tt.args.srcTON, SourceNPI: tt.args.srcNPI, Source: tt.args.src,
				DestTON: tt.args.dstTON, DestNPI: tt.args.dstNPI, Dest: tt.args.dst,
				ESMClass: tt.args.esm, DataCoding: tt.args.dc, RegisteredDelivery: tt.args.rd,
				ShortMessage: tt.args.sm, TLVs: tt.args.tlvs,
			}
			if want.ShortMessage == nil {
				want.ShortMessage = []byte{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Submits()[0] =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

var receiptText = regexp.MustCompile(`^id:(\d+) sub:001 dlvrd:(\d{3}) submit date:(\d{10}) done date:(\d{10}) stat:([A-Z]{7}) err:(\d{3}) text:(.*)$`)

func TestReceipt(t *testing.T) {
	for _, hexIDs := range []bool{false, true} {
		t.Run(fmt.Sprintf("HexIDs=%v", hexIDs), func(t *testing.T) {
			_, addr := MustStart(t, Config{HexIDs: hexIDs, ReceiptDelay: 10 * time.Millisecond})
			g, err := dialGosmpp(t, addr, pdu.Transceiver, "otp", "pw")
			if err != nil {
				t.Fatal(err)
			}
			args := gsm("Your otpgate code is 123456. Do not share it.")
			args.rd = 1
			if err := g.sess.Transceiver().Submit(args.pdu(t)); err != nil {
				t.Fatal(err)
			}
			id := next[*pdu.SubmitSMResp](t, g).MessageID
			d := next[*pdu.DeliverSM](t, g)

			if d.EsmClass != 0x04 {
				t.Errorf("esm_class = 0x%02X, want 0x04", d.EsmClass)
			}
			if d.SourceAddr.Address() != args.dst || d.DestAddr.Address() != args.src {
				t.Errorf("receipt from %q to %q, want from %q to %q", d.SourceAddr.Address(), d.DestAddr.Address(), args.dst, args.src)
			}
			text, _ := d.Message.GetMessageData()
			m := receiptText.FindStringSubmatch(string(text))
			if m == nil {
				t.Fatalf("receipt text %q does not match", text)
			}
			if m[5] != "DELIVRD" || m[2] != "001" || m[6] != "000" || m[7] != "Your otpgate code is" {
				t.Errorf("receipt text %q", text)
			}
			base := 10
			if hexIDs {
				base = 16
			}
			n, err := strconv.ParseUint(id, base, 64)
			if err != nil {
				t.Fatalf("message id %q is not base %d: %v", id, base, err)
			}
			if m[1] != strconv.FormatUint(n, 10) {
				t.Errorf("text id %s, want decimal of %s", m[1], id)
			}
			if hexIDs && m[1] == id {
				t.Errorf("HexIDs: text id equals the hex id %q", id)
			}
			rid := d.OptionalParameters[pdu.TagReceiptedMessageID]
			if !bytes.Equal(rid.Data, append([]byte(id), 0)) {
				t.Errorf("receipted_message_id = %q, want %q + NUL", rid.Data, id)
			}
			if st := d.OptionalParameters[pdu.TagMessageStateOption].Data; !bytes.Equal(st, []byte{2}) {
				t.Errorf("message_state = %v, want [2]", st)
			}
		})
	}
}

func TestSendMOToTransceiver(t *testing.T) {
	s, addr := MustStart(t, Config{})
	if err := s.SendMO("+962791234567", "otpgate", 0, []byte("STOP"), nil); err == nil {
		t.Fatal("SendMO with no bind: want an error")
	}
	g, err := dialGosmpp(t, addr, pdu.Transceiver, "otp", "pw")
	if err != nil {
		t.Fatal(err)
	}
	ucs2 := []byte{0x06, 0x45, 0x06, 0x31}
	if err := s.SendMO("+962791234567", "12345", 8, ucs2, map[uint16][]byte{0x020C: {0, 7}}); err != nil {
		t.Fatal(err)
	}
	d := next[*pdu.DeliverSM](t, g)
	msg, _ := d.Message.GetMessageData()
	if d.EsmClass != 0 || !bytes.Equal(msg, ucs2) || d.Message.Encoding().DataCoding() != 8 {
		t.Errorf("deliver_sm esm=0x%02X data=% x dc=%d", d.EsmClass, msg, d.Message.Encoding().DataCoding())
	}
	if a := d.SourceAddr; a.Address() != "962791234567" || a.Ton() != 1 || a.Npi() != 1 {
		t.Errorf("source %q %d/%d", a.Address(), a.Ton(), a.Npi())
	}
	if got := d.OptionalParameters[0x020C].Data; !bytes.Equal(got, []byte{0, 7}) {
		t.Errorf("TLV 0x020C = % x", got)
	}
	if s.Count() != 0 {
		t.Errorf("Count() = %d", s.Count())
	}
}

// gosmpp's window mode records a submit_sm in its window only after writing
// it, so a fast SMSC's response can arrive first: gosmpp then reports it as
// unexpected and the stale window entry stays until PduExpireTimeOut (never,
// if unset). Once MaxWindowSize entries have leaked, Submit still returns nil
// but every PDU is dropped with ErrWindowsFull (only OnSubmitError hears of
// it). This test measures it against the simulator and logs; it does not
// fail on gosmpp's behaviour.
func TestGosmppWindowRace(t *testing.T) {
	s, addr := MustStart(t, Config{})
	g, err := dialGosmpp(t, addr, pdu.Transceiver, "otp", "pw")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	answered := 0
	for i := range n {
		if err := g.sess.Transceiver().Submit(gsm(fmt.Sprint("code ", i)).pdu(t)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-g.in:
			answered++
			continue
		case <-time.After(time.Second):
		}
		break
	}
	size, _ := g.sess.GetWindowSize()
	t.Logf("gosmpp: %d of %d submit_sm answered (simulator counted %d); %d responses reported unexpected; "+
		"window holds %d stale entries; %d submit errors (window full)",
		answered, n, s.Count(), g.unexpected.Load(), size, g.submitErrs.Load())
}

func TestVerboseLogMasksNumbers(t *testing.T) {
	var buf syncbuf.Buffer
	_, addr := MustStart(t, Config{Log: &buf, Verbose: true})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transmitter, "otp")
	c.submitID(gsm("Your code is 123456"))
	c.send(pdu.NewUnbind())
	c.read()
	waitUntil(t, "closed in log", func() bool { return strings.Contains(buf.String(), "closed") })
	log := buf.String()
	for _, want := range []string{"bind_transmitter", "submit_sm", "unbind", `dst="9627*****567"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, secret := range []string{"962791234567", "Your code"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains %q:\n%s", secret, log)
		}
	}
}
