package smscsim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/linxGnu/gosmpp/pdu"

	"github.com/otpgate/otpgate/internal/smsenc"
)

func mustEncode(tb testing.TB, s string, enc smsenc.Encoding) []byte {
	tb.Helper()
	b, err := smsenc.Encode(s, enc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestDecodeText(t *testing.T) {
	const arabic = "رمز التحقق الخاص بك هو: ١٢٣٤٥٦"
	tests := []struct {
		name     string
		dc       byte
		in       []byte
		want     string
		encoding string
	}{
		{"GSM-7 default", 0x00, mustEncode(t, "Your code is: 123456 @£$¥ ÄÖÑÜ§¿", smsenc.GSM7), "Your code is: 123456 @£$¥ ÄÖÑÜ§¿", "GSM-7"},
		{"GSM-7 extension table", 0x00, mustEncode(t, "€ [x] {y} ~ \\ ^ |", smsenc.GSM7), "€ [x] {y} ~ \\ ^ |", "GSM-7"},
		{"data_coding 1 as GSM-7, as node-smpp sends it", 0x01, mustEncode(t, "code_1 @ home", smsenc.GSM7), "code_1 @ home", "GSM-7"},
		{"GSM-7 octet above 0x7F", 0x00, []byte{'a', 0x80, 'b'}, "a\uFFFDb", "GSM-7"},
		{"GSM-7 trailing escape", 0x00, []byte{'a', 0x1B}, "a ", "GSM-7"},
		{"UCS-2 Arabic", 0x08, mustEncode(t, arabic, smsenc.UCS2), arabic, "UCS-2"},
		{"UCS-2 surrogate pair", 0x08, mustEncode(t, "ok 👍", smsenc.UCS2), "ok 👍", "UCS-2"},
		{"UCS-2 odd length", 0x08, []byte{0x00, 'a', 0x06}, "a\uFFFD", "UCS-2"},
		{"UCS-2 lone surrogate", 0x08, []byte{0xD8, 0x3D, 0x00, 'a'}, "\uFFFDa", "UCS-2"},
		{"Latin-1", 0x03, []byte{'c', 0xE9, 'l', 0xE8, 'b', 'r', 'e'}, "célèbre", "Latin-1"},
		{"binary 0x04 in hex", 0x04, []byte{0x0A, 0xFF}, "0aff", "binary"},
		{"binary 0x02 in hex", 0x02, []byte{0x01}, "01", "binary"},
		{"coding group F0: GSM-7, class 0", 0xF0, []byte("Flash"), "Flash", "GSM-7"},
		{"coding group F4: 8-bit", 0xF4, []byte{0x01}, "01", "binary"},
		{"general group 0x18: UCS-2 with a class", 0x18, mustEncode(t, "مرحبا", smsenc.UCS2), "مرحبا", "UCS-2"},
		{"general group 0x10: GSM-7 with a class", 0x10, []byte("hi"), "hi", "GSM-7"},
		{"MWI group 0xE0: UCS-2", 0xE0, mustEncode(t, "ok", smsenc.UCS2), "ok", "UCS-2"},
		{"compressed 0x20: binary", 0x20, []byte{1, 2}, "0102", "binary"},
		{"empty", 0x00, nil, "", "GSM-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, enc := decodeText(tt.dc, tt.in)
			if got != tt.want || enc != tt.encoding {
				t.Errorf("decodeText(0x%02X, % x) = %q, %s; want %q, %s", tt.dc, tt.in, got, enc, tt.want, tt.encoding)
			}
		})
	}
}

// udhPart is a part of a UDH-concatenated message.
func udhPart(ref uint16, total, seq int, sixteen bool, payload []byte) []byte {
	return append(smsenc.UDH(ref, total, seq, sixteen), payload...)
}

// sarTLVs are the SAR TLVs of a part.
func sarTLVs(ref uint16, total, seq int) map[uint16][]byte {
	return map[uint16][]byte{
		tagSARMsgRefNum:     binary.BigEndian.AppendUint16(nil, ref),
		tagSARTotalSegments: {byte(total)},
		tagSARSegmentSeqnum: {byte(seq)},
	}
}

// viewOf parses a's submit_sm body as the session does.
func viewOf(tb testing.TB, a submitArgs) submitView {
	tb.Helper()
	raw := marshal(a.pdu(tb))
	var v submitView
	if err := parseSubmit(raw[headerLen:], &v); err != nil {
		tb.Fatalf("parseSubmit: %v", err)
	}
	return v
}

// splitParts splits body as otpgate's connector does, as submit_sm of the
// given mode: "udh", "udh16" or "sar".
func splitParts(tb testing.TB, body string, enc smsenc.Encoding, mode string, ref uint16) []submitArgs {
	tb.Helper()
	opt := smsenc.SplitOptions{}
	if mode == "udh16" {
		opt = smsenc.SplitOptions{PerPartSeptets: smsenc.PartSeptets16, PerPartUnits: smsenc.PartUnits16}
	}
	parts, err := smsenc.Split(body, enc, opt)
	if err != nil {
		tb.Fatal(err)
	}
	if len(parts) < 2 {
		tb.Fatalf("%q is one part", body)
	}
	dc := byte(0)
	if enc == smsenc.UCS2 {
		dc = 8
	}
	var out []submitArgs
	for i, p := range parts {
		a := gsm("")
		a.src, a.dc = "MyApp", dc
		switch mode {
		case "udh", "udh16":
			a.esm = esmUDHI
			a.sm = udhPart(ref, len(parts), i+1, mode == "udh16", p.Payload)
		case "sar":
			a.sm, a.tlvs = p.Payload, sarTLVs(ref, len(parts), i+1)
		}
		out = append(out, a)
	}
	return out
}

const longArabic = "مرحبا، رمز التحقق الخاص بك هو ٤٨٢٩١٣. لا تشارك هذا الرمز مع أي شخص، ولا حتى مع موظفي خدمة العملاء. " +
	"ينتهي الرمز بعد عشر دقائق. إذا لم تطلب هذا الرمز فتجاهل هذه الرسالة 👍"

const longGSM = "Your verification code is 482913. Do not share it with anyone, not even with our support staff. " +
	"It expires in 10 minutes. If you did not ask for it, ignore this message. Escapes cost two septets: " +
	"{[~|€]} and ^\\ so they must never be split between two parts of one message. This text goes on a " +
	"little longer, so that it needs three parts of 153 septets each: one more sentence, then another [one]."

func TestJoin(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		body  string
		enc   smsenc.Encoding
		mode  string
		order []int // part indexes in the order sent; nil: in order
	}{
		{"GSM-7 UDH 8-bit ref", longGSM, smsenc.GSM7, "udh", nil},
		{"GSM-7 UDH 16-bit ref, reversed", longGSM, smsenc.GSM7, "udh16", []int{2, 1, 0}},
		{"GSM-7 SAR", longGSM, smsenc.GSM7, "sar", nil},
		{"UCS-2 UDH, Arabic", longArabic, smsenc.UCS2, "udh", nil},
		{"UCS-2 UDH 16-bit ref, Arabic, out of order", longArabic, smsenc.UCS2, "udh16", []int{1, 2, 0}},
		{"UCS-2 SAR, Arabic, last first", longArabic, smsenc.UCS2, "sar", []int{2, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJoiner(time.Minute)
			parts := splitParts(t, tt.body, tt.enc, tt.mode, 0x1234)
			order := tt.order
			if order == nil {
				for i := range parts {
					order = append(order, i)
				}
			}
			if len(order) != len(parts) {
				t.Fatalf("%d parts, order %v", len(parts), order)
			}
			var got []Message
			for n, i := range order {
				v := viewOf(t, parts[i])
				p := partOf(&v)
				p.id, p.sys, p.at = fmt.Sprint("id", i), "otpgate", t0.Add(time.Duration(n)*time.Millisecond)
				got = j.add(p, got)
				if n < len(order)-1 && len(got) > 0 {
					t.Fatalf("a message after %d of %d parts: %+v", n+1, len(parts), got)
				}
			}
			if len(got) != 1 {
				t.Fatalf("got %d messages, want 1", len(got))
			}
			m := got[0]
			wantIDs := []string{}
			for i := range parts {
				wantIDs = append(wantIDs, fmt.Sprint("id", i))
			}
			if m.Text != tt.body || m.Encoding != string(tt.enc) || m.Parts != len(parts) || m.Missing != nil ||
				!slices.Equal(m.IDs, wantIDs) || m.Dest != "962791234567" || m.Source != "MyApp" ||
				!m.At.Equal(t0.Add(time.Duration(len(parts)-1)*time.Millisecond)) {
				t.Fatalf("joined %+v\nwant text %q", m, tt.body)
			}
			if len(j.pending) != 0 || j.size != 0 {
				t.Fatalf("joiner keeps %d pending, %d bytes", len(j.pending), j.size)
			}
		})
	}
}

// Parts of different references, senders, destinations and accounts stay
// apart; a repeated part replaces the first; a single message passes at once.
func TestJoinKeepsMessagesApart(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	j := newJoiner(time.Minute)
	mk := func(sys, src, dst string, ref uint16, seq int, text string) part {
		a := gsm("")
		a.src, a.dst, a.esm = src, dst, esmUDHI
		a.sm = udhPart(ref, 2, seq, false, mustEncode(t, text, smsenc.GSM7))
		v := viewOf(t, a)
		p := partOf(&v)
		p.id, p.sys, p.at = text, sys, t0
		return p
	}
	var got []Message
	for _, p := range []part{
		mk("a", "App", "962791111111", 7, 1, "A1"),
		mk("a", "App", "962792222222", 7, 1, "B1"),    // another destination
		mk("a", "Other", "962791111111", 7, 1, "C1"),  // another sender
		mk("b", "App", "962791111111", 7, 1, "D1"),    // another account
		mk("a", "App", "962791111111", 8, 1, "E1"),    // another reference
		mk("a", "App", "962791111111", 7, 1, "A1bis"), // a repeat: replaces A1
	} {
		got = j.add(p, got)
	}
	if len(got) != 0 || len(j.pending) != 5 {
		t.Fatalf("after first parts: %d messages, %d pending", len(got), len(j.pending))
	}
	single := gsm("on its own")
	v := viewOf(t, single)
	p := partOf(&v)
	p.id, p.at = "S", t0
	got = j.add(p, got)
	for _, p := range []part{
		mk("b", "App", "962791111111", 7, 2, "D2"),
		mk("a", "App", "962791111111", 7, 2, "A2"),
		mk("a", "App", "962791111111", 8, 2, "E2"),
		mk("a", "App", "962792222222", 7, 2, "B2"),
		mk("a", "Other", "962791111111", 7, 2, "C2"),
	} {
		got = j.add(p, got)
	}
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Text)
	}
	want := []string{"on its own", "D1D2", "A1bisA2", "E1E2", "B1B2", "C1C2"}
	if !slices.Equal(texts, want) {
		t.Fatalf("messages %q, want %q", texts, want)
	}
	if len(j.pending) != 0 || j.size != 0 {
		t.Fatalf("joiner keeps %d pending, %d bytes", len(j.pending), j.size)
	}
}

// A message whose parts stop coming is given up after the timeout, with
// what came and the numbers of what did not.
func TestJoinExpires(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	j := newJoiner(time.Minute)
	parts := splitParts(t, longGSM, smsenc.GSM7, "udh", 9)
	for n, i := range []int{0, 2} {
		v := viewOf(t, parts[i])
		p := partOf(&v)
		p.id, p.at = fmt.Sprint("id", i), t0.Add(time.Duration(n)*time.Second)
		if got := j.add(p, nil); len(got) != 0 {
			t.Fatalf("a message before the end: %+v", got)
		}
	}
	if got := j.expire(t0.Add(time.Minute), nil); len(got) != 0 {
		t.Fatalf("expired %d a second early", len(got))
	}
	got := j.expire(t0.Add(61*time.Second), nil)
	if len(got) != 1 {
		t.Fatalf("expired %d messages, want 1", len(got))
	}
	m := got[0]
	p1, _ := smsenc.Split(longGSM, smsenc.GSM7, smsenc.SplitOptions{})
	if !slices.Equal(m.Missing, []int{2}) || m.Text != p1[0].Text+"…"+p1[2].Text || !slices.Equal(m.IDs, []string{"id0", "id2"}) ||
		m.Parts != 3 || !m.At.Equal(t0.Add(time.Second)) {
		t.Fatalf("incomplete message %+v", m)
	}
	if !strings.Contains(m.Line(), "INCOMPLETE, never came: part 2  ") {
		t.Fatalf("line %q", m.Line())
	}
	if len(j.pending) != 0 || j.size != 0 {
		t.Fatalf("joiner keeps %d pending, %d bytes", len(j.pending), j.size)
	}
}

// Incomplete messages hold at most maxPendingBytes (here 64 KiB): past it
// the oldest is given up.
func TestJoinMemoryBound(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	j := newJoiner(time.Hour)
	j.maxBytes = 64 << 10
	payload := bytes.Repeat([]byte{'x'}, 153)
	var out []Message
	n := j.maxBytes/len(payload) + 10
	for i := range n {
		p := part{id: fmt.Sprint(i), dst: fmt.Sprint(962790000000 + i), ud: payload, ref: 1, total: 2, seq: 1, at: t0.Add(time.Duration(i))}
		out = j.add(p, out)
		if j.size > j.maxBytes {
			t.Fatalf("joiner holds %d bytes", j.size)
		}
	}
	if len(out) == 0 || out[0].IDs[0] != "0" || len(out[0].Missing) != 1 {
		t.Fatalf("gave up %d messages, first %+v; want the oldest first", len(out), out[:min(1, len(out))])
	}
	if len(out)+len(j.pending) != n {
		t.Fatalf("%d given up + %d pending != %d sent", len(out), len(j.pending), n)
	}
}

// message_payload carries a whole long message: taken as one, undivided.
func TestMessagePayload(t *testing.T) {
	a := gsm("")
	a.dc = 8
	a.tlvs = map[uint16][]byte{tagMessagePayload: mustEncode(t, longArabic, smsenc.UCS2)}
	v := viewOf(t, a)
	p := partOf(&v)
	p.id = "1"
	got := newJoiner(0).add(p, nil)
	if len(got) != 1 || got[0].Text != longArabic || got[0].Parts != 1 || got[0].Encoding != "UCS-2" {
		t.Fatalf("got %+v", got)
	}
}

func TestLine(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 0, 1, 0, time.FixedZone("AST", 3*3600))
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"the README's", Message{Source: "MyApp", SourceTON: 5, Dest: "962790320012", DestTON: 1, Text: "Your verification code is: 123456", Encoding: "GSM-7", Parts: 1, At: at},
			`2026-12-06 12:00:01  +962790320012  from MyApp  "Your verification code is: 123456"`},
		{"Arabic in two parts", Message{Source: "962790000000", SourceTON: 1, Dest: "0790320012", Text: "مرحبا\nرمز", Encoding: "UCS-2", Parts: 2, At: at},
			`2026-12-06 12:00:01  0790320012  from +962790000000  UCS-2, 2 parts  "مرحبا\nرمز"`},
		{"control and bidi characters escaped", Message{Source: "My App", Dest: "1\x1b[2J", Text: "a\u202eb\x07", Encoding: "GSM-7", Parts: 1, At: at},
			`2026-12-06 12:00:01  "1\x1b[2J"  from "My App"  "a\u202eb\a"`},
		{"incomplete", Message{Source: "A", Dest: "1", Text: "x……", Encoding: "GSM-7", Parts: 3, Missing: []int{2, 3}, At: at},
			`2026-12-06 12:00:01  1  from A  GSM-7, 3 parts  INCOMPLETE, never came: parts 2, 3  "x……"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Line(); got != tt.want {
				t.Errorf("Line() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// Through a running server: single messages, UDH and SAR parts from two
// binds interleaved, message_payload; each message is passed once, whole,
// with the message ids the ESME got.
func TestServerMessages(t *testing.T) {
	var mu sync.Mutex
	var got []Message
	s, addr := MustStart(t, Config{Messages: func(m Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}})
	c1, c2 := dialRaw(t, addr), dialRaw(t, addr)
	c1.mustBind(pdu.Transceiver, "one")
	c2.mustBind(pdu.Transmitter, "two")

	ids := map[string][]string{}
	id := c1.submitID(gsm("Your verification code is: 123456"))
	ids["Your verification code is: 123456"] = []string{id}
	arabic := splitParts(t, longArabic, smsenc.UCS2, "udh", 77)
	sar := splitParts(t, longGSM, smsenc.GSM7, "sar", 77) // the same ref, another bind and text
	for i := range 3 {
		ids[longArabic] = append(ids[longArabic], c1.submitID(arabic[i]))
		ids[longGSM] = append(ids[longGSM], c2.submitID(sar[i]))
	}
	pl := gsm("")
	pl.dc = 8
	pl.tlvs = map[uint16][]byte{tagMessagePayload: mustEncode(t, "payload: رمز", smsenc.UCS2)}
	ids["payload: رمز"] = []string{c2.submitID(pl)}

	waitUntil(t, "4 messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 4
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("got %d messages, want 4", len(got))
	}
	for _, m := range got {
		want, ok := ids[m.Text]
		if !ok || !slices.Equal(m.IDs, want) || m.Dest != "962791234567" || m.DestTON != 1 {
			t.Errorf("message %+v; sent %q", m, ids)
		}
		delete(ids, m.Text)
	}
	if s.Count() != 8 {
		t.Errorf("Count() = %d, want 8", s.Count())
	}
}

// An incomplete message is given up by the server's timer, with no more
// traffic.
func TestServerExpiresParts(t *testing.T) {
	ch := make(chan Message, 1)
	_, addr := MustStart(t, Config{PartsTimeout: 50 * time.Millisecond, Messages: func(m Message) { ch <- m }})
	c := dialRaw(t, addr)
	c.mustBind(pdu.Transmitter, "otp")
	c.submitID(splitParts(t, longGSM, smsenc.GSM7, "udh", 3)[1])
	select {
	case m := <-ch:
		if !slices.Equal(m.Missing, []int{1, 3}) {
			t.Fatalf("given up %+v", m)
		}
	case <-time.After(waitFor):
		t.Fatal("the incomplete message was never given up")
	}
}

// FuzzJoin feeds submit_sm bodies (split at 0xFF 0xFE) to one joiner: it
// must not panic, its texts are valid UTF-8, and its memory accounting
// adds up and empties when everything expires.
func FuzzJoin(f *testing.F) {
	sep := []byte{0xFF, 0xFE}
	seed := func(as ...submitArgs) {
		var in [][]byte
		for _, a := range as {
			in = append(in, marshal(a.pdu(f))[headerLen:])
		}
		f.Add(bytes.Join(in, sep))
	}
	seed(splitParts(f, longArabic, smsenc.UCS2, "udh", 1)...)
	seed(splitParts(f, longGSM, smsenc.GSM7, "udh16", 1)...)
	seed(splitParts(f, longGSM, smsenc.GSM7, "sar", 1)...)
	seed(gsm("Your code is 123456"))
	for _, raw := range seedSubmits(f) {
		f.Add(raw[headerLen:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		j := newJoiner(time.Minute)
		t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		var out []Message
		taken := 0
		for i, body := range bytes.Split(in, sep) {
			var v submitView
			if parseSubmit(body, &v) != nil || validateSubmit(&v) != statusOK {
				continue
			}
			p := partOf(&v)
			if p.total < 1 || p.seq < 1 || p.seq > p.total || p.total > 255 {
				t.Fatalf("part %d of %d", p.seq, p.total)
			}
			p.id, p.at = fmt.Sprint(i), t0.Add(time.Duration(i)*time.Millisecond)
			taken++
			out = j.add(p, out)
			sum := 0
			for _, pm := range j.pending {
				sum += pm.size
			}
			if sum != j.size || j.size < 0 {
				t.Fatalf("pending bytes %d, accounted %d", sum, j.size)
			}
		}
		out = j.expire(t0.Add(time.Hour), out)
		if len(j.pending) != 0 || j.size != 0 {
			t.Fatalf("after expiry: %d pending, %d bytes", len(j.pending), j.size)
		}
		ids := 0
		for _, m := range out {
			if !utf8.ValidString(m.Text) || m.Parts < 1 || len(m.IDs) == 0 || m.Encoding == "" {
				t.Fatalf("message %+v", m)
			}
			if !utf8.ValidString(m.Line()) {
				t.Fatalf("line %q", m.Line())
			}
			ids += len(m.IDs)
		}
		if ids > taken {
			t.Fatalf("%d ids out of %d parts taken", ids, taken)
		}
	})
}

// FuzzDecodeText: any data_coding and octets decode to valid UTF-8 without
// panicking.
func FuzzDecodeText(f *testing.F) {
	f.Add(byte(0), []byte("hello\x1b"))
	f.Add(byte(8), []byte{0xD8, 0x3D, 0xDC})
	f.Add(byte(3), []byte{0xFF})
	f.Add(byte(0xF4), []byte{1})
	f.Fuzz(func(t *testing.T, dc byte, b []byte) {
		s, enc := decodeText(dc, b)
		if !utf8.ValidString(s) || enc == "" {
			t.Fatalf("decodeText(0x%02X, % x) = %q, %q", dc, b, s, enc)
		}
	})
}
