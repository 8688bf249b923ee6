package smsenc

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func FuzzAnalyzeSplit(f *testing.F) {
	for _, s := range []string{
		"", otpBody, arabic, "€", "a😀b",
		strings.Repeat("a", 161),
		strings.Repeat("a", 152) + "€" + strings.Repeat("b", 10),
		strings.Repeat(alef, 150),
		"ab" + strings.Repeat(emoji, 36),
		strings.Repeat("€", 153),
		"It’s {code}: 123456 رمز",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		info := Analyze(body)
		if info.Segments < 1 || info.Units < 0 {
			t.Fatalf("Analyze = %+v", info)
		}
		if !utf8.ValidString(body) {
			if _, err := Split(body, UCS2, SplitOptions{}); err == nil {
				t.Fatal("Split accepted invalid UTF-8")
			}
			return
		}
		if got := len(utf16.Encode([]rune(body))); info.Encoding == UCS2 && got != info.Units {
			t.Fatalf("Units = %d, UTF-16 length %d", info.Units, got)
		}
		checkSplit(t, body, info.Encoding, SplitOptions{}, info)
		checkSplit(t, body, info.Encoding, SplitOptions{PerPartSeptets: PartSeptets16, PerPartUnits: PartUnits16}, Info{})
		checkSplit(t, body, info.Encoding, SplitOptions{PerPartSeptets: 2, PerPartUnits: 2}, Info{})
		if info.Encoding == GSM7 {
			checkSplit(t, body, UCS2, SplitOptions{}, Info{})
		}
	})
}

// checkSplit splits body and checks the parts; when want is not zero it
// also checks the part count and total units against it.
func checkSplit(t *testing.T, body string, enc Encoding, opt SplitOptions, want Info) {
	t.Helper()
	parts, err := Split(body, enc, opt)
	if err != nil {
		t.Fatalf("Split(%s, %+v): %v", enc, opt, err)
	}
	single, per := SingleUnits, orDefault(opt.PerPartUnits, PartUnits)
	if enc == GSM7 {
		single, per = SingleSeptets, orDefault(opt.PerPartSeptets, PartSeptets)
	}
	limit := per
	if len(parts) == 1 {
		limit = single
	}
	var joined strings.Builder
	units := 0
	for i, p := range parts {
		joined.WriteString(p.Text)
		n := payloadUnits(p, enc)
		units += n
		if n > limit {
			t.Fatalf("%s %+v: part %d has %d units, limit %d", enc, opt, i, n, limit)
		}
		if len(parts) > 1 && p.Text == "" {
			t.Fatalf("%s %+v: part %d is empty", enc, opt, i)
		}
		got, err := Decode(p.Payload, enc)
		if err != nil || got != p.Text {
			t.Fatalf("%s %+v: part %d decodes to %q, %v; want %q", enc, opt, i, got, err, p.Text)
		}
		if enc == UCS2 && len(p.Payload) >= 2 {
			if last := rune(p.Payload[len(p.Payload)-2])<<8 | rune(p.Payload[len(p.Payload)-1]); last >= 0xD800 && last < 0xDC00 {
				t.Fatalf("part %d ends with a high surrogate", i)
			}
		}
	}
	if joined.String() != body {
		t.Fatalf("%s %+v: parts join to %q, want %q", enc, opt, joined.String(), body)
	}
	b, err := Encode(body, enc)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if got, err := Decode(b, enc); err != nil || got != body {
		t.Fatalf("Decode(Encode) = %q, %v; want %q", got, err, body)
	}
	if want != (Info{}) {
		if len(parts) != want.Segments {
			t.Fatalf("Split made %d parts, Analyze says %d segments", len(parts), want.Segments)
		}
		if units != want.Units {
			t.Fatalf("parts hold %d units, Analyze says %d", units, want.Units)
		}
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func FuzzDecodeDataCoding(f *testing.F) {
	f.Add([]byte("Hi"), byte(0x00))
	f.Add([]byte{0x1B, 0x65, 0x1B}, byte(0x00))
	f.Add([]byte{0xD8, 0x3D, 0xDE, 0x00}, byte(0x08))
	f.Add([]byte{0xD8, 0x3D, 0xDE}, byte(0x08))
	f.Add([]byte{0xE9, 0xFF}, byte(0x03))
	f.Add([]byte{0x41}, byte(0x01))
	f.Add([]byte{0x41}, byte(0x04))
	f.Fuzz(func(t *testing.T, b []byte, dc byte) {
		s, err := DecodeDataCoding(b, dc)
		if err == nil && !utf8.ValidString(s) {
			t.Fatalf("DecodeDataCoding(% X, 0x%02X) = %q, not valid UTF-8", b, dc, s)
		}
		if dc == DataCodingUCS2 && err == nil {
			// Valid UTF-16 re-encodes to the same bytes.
			if e, err := Encode(s, UCS2); err == nil && !strings.ContainsRune(s, utf8.RuneError) && string(e) != string(b) {
				t.Fatalf("UCS-2 % X decodes to %q which encodes to % X", b, s, e)
			}
		}
	})
}

func FuzzParseUDH(f *testing.F) {
	f.Add(UDH(0x2A, 3, 1, false))
	f.Add(UDH(0x1234, 3, 2, true))
	f.Add([]byte{0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x01, 0x02, 0x02})
	f.Add([]byte{0x00})
	f.Add([]byte{0xFF, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		ref, total, seq, n, ok := ParseUDH(b)
		if n < 0 || n > len(b) {
			t.Fatalf("headerLen %d outside 0..%d", n, len(b))
		}
		if ok {
			if n == 0 || total < 1 || seq < 1 || seq > total || total > MaxParts {
				t.Fatalf("ok with ref %#x total %d seq %d headerLen %d", ref, total, seq, n)
			}
		} else if ref != 0 || total != 0 || seq != 0 {
			t.Fatalf("not ok but ref %#x total %d seq %d", ref, total, seq)
		}
	})
}
