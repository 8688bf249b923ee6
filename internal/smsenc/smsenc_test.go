package smsenc

import (
	"strings"
	"testing"
)

const (
	otpBody = "Your verification code is: 123456"
	alef    = "ا" // U+0627, one UTF-16 unit
	emoji   = "😀" // U+1F600, a surrogate pair
	arabic  = "رمز التحقق الخاص بك هو ١٢٣٤٥٦. لا تشاركه مع أي شخص."
)

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Info
	}{
		{"empty", "", Info{GSM7, 0, 1}},
		{"otp", otpBody, Info{GSM7, 33, 1}},
		{"160 gsm", strings.Repeat("a", 160), Info{GSM7, 160, 1}},
		{"161 gsm", strings.Repeat("a", 161), Info{GSM7, 161, 2}},
		{"153x2 gsm", strings.Repeat("a", 306), Info{GSM7, 306, 2}},
		{"153x2+1 gsm", strings.Repeat("a", 307), Info{GSM7, 307, 3}},
		{"80 euro", strings.Repeat("€", 80), Info{GSM7, 160, 1}},
		{"81 euro", strings.Repeat("€", 81), Info{GSM7, 162, 2}},
		// 76 euros fill 152 septets; the 77th would straddle 153, so a
		// second part starts and 153x2 septets of euros need 3 parts.
		{"153 euro", strings.Repeat("€", 153), Info{GSM7, 306, 3}},
		{"152 plain then euro then more", strings.Repeat("a", 152) + "€" + strings.Repeat("b", 10), Info{GSM7, 164, 2}},
		{"70 arabic", strings.Repeat(alef, 70), Info{UCS2, 70, 1}},
		{"71 arabic", strings.Repeat(alef, 71), Info{UCS2, 71, 2}},
		{"134 arabic", strings.Repeat(alef, 134), Info{UCS2, 134, 2}},
		{"135 arabic", strings.Repeat(alef, 135), Info{UCS2, 135, 3}},
		{"150 arabic", strings.Repeat(alef, 150), Info{UCS2, 150, 3}},
		{"201 arabic", strings.Repeat(alef, 201), Info{UCS2, 201, 3}},
		{"202 arabic", strings.Repeat(alef, 202), Info{UCS2, 202, 4}},
		{"35 emoji", strings.Repeat(emoji, 35), Info{UCS2, 70, 1}},
		{"36 emoji", strings.Repeat(emoji, 36), Info{UCS2, 72, 2}},
		{"mixed arabic latin digits", "رمز OTP: 123456", Info{UCS2, 15, 1}},
		{"gsm body with one smart quote", "It’s 123456", Info{UCS2, 11, 1}},
		{"invalid utf8 counts as UCS-2", "ab\xff", Info{UCS2, 3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Analyze(tt.body); got != tt.want {
				t.Fatalf("Analyze = %+v, want %+v", got, tt.want)
			}
			if got := Segments(tt.body); got != tt.want.Segments {
				t.Fatalf("Segments = %d, want %d", got, tt.want.Segments)
			}
		})
	}
}

func TestAnalyzeDoesNotAllocate(t *testing.T) {
	for name, body := range map[string]string{
		"ascii otp":  otpBody,
		"long ascii": strings.Repeat("Your code is 123456. ", 30),
		"arabic":     arabic,
		"long mixed": strings.Repeat(arabic+"€"+emoji, 10),
	} {
		t.Run(name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, func() { Analyze(body) }); n != 0 {
				t.Fatalf("Analyze allocates %v times per run", n)
			}
		})
	}
}

func BenchmarkAnalyze(b *testing.B) {
	for _, bm := range []struct{ name, body string }{
		{"ascii_otp", otpBody},
		{"arabic", arabic},
		{"ascii_long_3_parts", strings.Repeat("Your code is 123456. ", 20)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.body)))
			for b.Loop() {
				Analyze(bm.body)
			}
		})
	}
}
