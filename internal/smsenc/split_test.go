package smsenc

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// payloadUnits returns the septets or UTF-16 units in a part's payload.
func payloadUnits(p Part, enc Encoding) int {
	if enc == UCS2 {
		return len(p.Payload) / 2
	}
	return len(p.Payload)
}

func TestSplit(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	ar := func(n int) string { return strings.Repeat(alef, n) }
	em := func(n int) string { return strings.Repeat(emoji, n) }
	udh16 := SplitOptions{PerPartSeptets: PartSeptets16, PerPartUnits: PartUnits16}
	sar := SplitOptions{PerPartSeptets: SingleSeptets, PerPartUnits: SingleUnits}

	tests := []struct {
		name  string
		body  string
		enc   Encoding
		opt   SplitOptions
		units []int    // per part
		texts []string // per part; nil to skip
	}{
		{"empty", "", GSM7, SplitOptions{}, []int{0}, []string{""}},
		{"otp", otpBody, GSM7, SplitOptions{}, []int{33}, []string{otpBody}},
		{"160 gsm", a(160), GSM7, SplitOptions{}, []int{160}, nil},
		{"161 gsm", a(161), GSM7, SplitOptions{}, []int{153, 8}, nil},
		{"153x2 gsm", a(306), GSM7, SplitOptions{}, []int{153, 153}, nil},
		{"153x2+1 gsm", a(307), GSM7, SplitOptions{}, []int{153, 153, 1}, nil},
		{"euro at the 153 boundary moves whole", a(152) + "€" + strings.Repeat("b", 10), GSM7, SplitOptions{},
			[]int{152, 12}, []string{a(152), "€" + strings.Repeat("b", 10)}},
		{"euro ending exactly at 153", a(151) + "€" + strings.Repeat("b", 10), GSM7, SplitOptions{},
			[]int{153, 10}, []string{a(151) + "€", strings.Repeat("b", 10)}},
		{"80 euro fits one sms", strings.Repeat("€", 80), GSM7, SplitOptions{}, []int{160}, nil},
		{"81 euro", strings.Repeat("€", 81), GSM7, SplitOptions{}, []int{152, 10}, nil},
		{"70 arabic", ar(70), UCS2, SplitOptions{}, []int{70}, nil},
		{"71 arabic", ar(71), UCS2, SplitOptions{}, []int{67, 4}, []string{ar(67), ar(4)}},
		{"150 arabic", ar(150), UCS2, SplitOptions{}, []int{67, 67, 16}, nil},
		{"201 arabic", ar(201), UCS2, SplitOptions{}, []int{67, 67, 67}, nil},
		{"202 arabic", ar(202), UCS2, SplitOptions{}, []int{67, 67, 67, 1}, nil},
		{"35 emoji fit one sms", em(35), UCS2, SplitOptions{}, []int{70}, nil},
		{"36 emoji", em(36), UCS2, SplitOptions{}, []int{66, 6}, []string{em(33), em(3)}},
		{"pair straddling 67 moves whole", "ab" + em(36), UCS2, SplitOptions{},
			[]int{66, 8}, []string{"ab" + em(32), em(4)}},
		{"pair ending exactly at 67", "a" + em(36), UCS2, SplitOptions{},
			[]int{67, 6}, []string{"a" + em(33), em(3)}},
		{"16-bit ref gsm", a(161), GSM7, udh16, []int{152, 9}, nil},
		{"16-bit ref euro at 152", a(151) + "€" + a(10), GSM7, udh16, []int{151, 12}, nil},
		{"16-bit ref arabic", ar(71), UCS2, udh16, []int{66, 5}, nil},
		{"16-bit ref emoji", "a" + em(36), UCS2, udh16, []int{65, 8}, nil},
		{"sar gsm", a(161), GSM7, sar, []int{160, 1}, nil},
		{"sar arabic", ar(141), UCS2, sar, []int{70, 70, 1}, nil},
		{"gsm body sent as ucs2", a(71), UCS2, SplitOptions{}, []int{67, 4}, nil},
		{"mixed", strings.Repeat("رمز OTP: 123456 ", 5), UCS2, SplitOptions{}, []int{67, 13}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := Split(tt.body, tt.enc, tt.opt)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			var units []int
			var texts []string
			for _, p := range parts {
				units = append(units, payloadUnits(p, tt.enc))
				texts = append(texts, p.Text)
				got, err := Decode(p.Payload, tt.enc)
				if err != nil || got != p.Text {
					t.Errorf("Decode(part payload) = %q, %v; want %q", got, err, p.Text)
				}
			}
			if !slices.Equal(units, tt.units) {
				t.Errorf("part units = %v, want %v", units, tt.units)
			}
			if tt.texts != nil && !slices.Equal(texts, tt.texts) {
				t.Errorf("part texts = %q, want %q", texts, tt.texts)
			}
			if got := strings.Join(texts, ""); got != tt.body {
				t.Errorf("parts join to %q, want the body", got)
			}
			if tt.opt == (SplitOptions{}) && Analyze(tt.body).Encoding == tt.enc {
				if seg := Segments(tt.body); seg != len(parts) {
					t.Errorf("Segments = %d, Split made %d parts", seg, len(parts))
				}
			}
		})
	}
}

func TestSplitEscapeGoesWhole(t *testing.T) {
	body := strings.Repeat("a", 152) + "€" + strings.Repeat("b", 10)
	parts, err := Split(body, GSM7, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 {
		t.Fatalf("got %d parts, want 2", len(parts))
	}
	if last := parts[0].Payload[len(parts[0].Payload)-1]; last != 'a' {
		t.Errorf("part 1 ends with 0x%02X, want 'a'", last)
	}
	if !bytes.HasPrefix(parts[1].Payload, []byte{0x1B, 0x65, 'b'}) {
		t.Errorf("part 2 starts % X, want 1B 65 62", parts[1].Payload[:3])
	}
}

func TestSplitPayloadsDoNotAlias(t *testing.T) {
	parts, err := Split(strings.Repeat("a", 200), GSM7, SplitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = append(parts[0].Payload, 'X')
	if parts[1].Payload[0] != 'a' {
		t.Fatalf("appending to part 1's payload changed part 2")
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		enc  Encoding
		opt  SplitOptions
		is   error
	}{
		{"arabic as gsm", "رمز", GSM7, SplitOptions{}, ErrNotGSM7},
		{"invalid utf8 gsm", "ab\xffc", GSM7, SplitOptions{}, ErrInvalidUTF8},
		{"invalid utf8 ucs2", "ab\xffc", UCS2, SplitOptions{}, ErrInvalidUTF8},
		{"unknown encoding", "abc", Encoding("UTF-8"), SplitOptions{}, ErrUnknownEncoding},
		{"empty encoding", "abc", "", SplitOptions{}, ErrUnknownEncoding},
		{"septets 1", "abc", GSM7, SplitOptions{PerPartSeptets: 1}, nil},
		{"septets 161", "abc", GSM7, SplitOptions{PerPartSeptets: 161}, nil},
		{"septets negative", "abc", GSM7, SplitOptions{PerPartSeptets: -1}, nil},
		{"units 1", "abc", UCS2, SplitOptions{PerPartUnits: 1}, nil},
		{"units 71", "abc", UCS2, SplitOptions{PerPartUnits: 71}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.body, tt.enc, tt.opt)
			if err == nil {
				t.Fatal("Split succeeded, want error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Split error = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}
