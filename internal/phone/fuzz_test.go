package phone

import (
	"errors"
	"testing"
)

func FuzzParseSMS(f *testing.F) {
	for _, s := range []string{
		"962790320012", "+962 79 032 0012", "00962790320012", "0790320012", "790320012",
		"(079) 032-0012", "+962-79-032-0012", "٠٧٩٠٣٢٠٠١٢", "۰۷۹۰۳۲۰۰۱۲", "＋９６２７９０３２００１２",
		"+44 7400 123456", "+1 201 555 0123", "+962 6 461 2345", "+962 7466 12345", "+800 1234 5678",
		"", "+", "00", "abc", "12", "0790320012 ext 5", "+962 (0)79 032 0012", "\u200f079\u00a0032\u00a00012",
	} {
		f.Add(s)
	}
	p, err := NewParser("JO")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input string) {
		checkMasked(t, input, Mask(input))

		got, err := p.ParseSMS(input)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("ParseSMS(%q): error %T %v, want *Error", input, err, err)
			}
			if perr.Input != input || perr.Reason == "" {
				t.Fatalf("ParseSMS(%q): %#v, want Input set to the input and a Reason", input, perr)
			}
			if got != (Number{}) {
				t.Fatalf("ParseSMS(%q) = %+v with an error", input, got)
			}
			_ = err.Error()
			return
		}
		if len(got.E164) < 2 || got.E164[0] != '+' || len(got.E164) > 16 {
			t.Fatalf("ParseSMS(%q).E164 = %q, want + and 1 to 15 digits", input, got.E164)
		}
		for _, c := range got.E164[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("ParseSMS(%q).E164 = %q, want only digits after +", input, got.E164)
			}
		}
		if !got.CanReceiveSMS() {
			t.Fatalf("ParseSMS(%q) accepted type %q", input, got.Type)
		}
		if got.Region == "" {
			t.Fatalf("ParseSMS(%q) = %+v, no region", input, got)
		}
		again, err := p.ParseSMS(got.E164)
		if err != nil {
			t.Fatalf("ParseSMS(%q) = %+v, but ParseSMS(%q): %v", input, got, got.E164, err)
		}
		if again != got {
			t.Fatalf("ParseSMS(%q) = %+v, but ParseSMS(%q) = %+v", input, got, got.E164, again)
		}
		if uncached, _ := p.parse(input); uncached != got {
			t.Fatalf("ParseSMS(%q) = %+v from the cache, %+v uncached", input, got, uncached)
		}
	})
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "123-456", "١٢٣٤٥٦", "۱۲۳۴۵۶", "12a", "", "١٢3 – ۴5٦"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		got, ok := NormalizeCode(input)
		if !ok {
			if got != "" {
				t.Fatalf("NormalizeCode(%q) = %q, false; want \"\"", input, got)
			}
			return
		}
		if len(got) < 1 || len(got) > MaxCodeDigits {
			t.Fatalf("NormalizeCode(%q) = %q: want 1 to %d digits", input, got, MaxCodeDigits)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < '0' || got[i] > '9' {
				t.Fatalf("NormalizeCode(%q) = %q: not ASCII digits only", input, got)
			}
		}
		if again, ok := NormalizeCode(got); !ok || again != got {
			t.Fatalf("NormalizeCode(%q) = %q, not a fixed point (%q, %v)", input, got, again, ok)
		}
	})
}

// FuzzFastPathMatchesParse: for any input, the parse with the fast path
// (and its typer) gives what libphonenumber's full parse gives.
func FuzzFastPathMatchesParse(f *testing.F) {
	for _, s := range []string{"0790320012", "+962790320012", "00962780000000", "0777777777", "+9626", "0800 22 222",
		"+962 6 461 2345", "+962 7466 12345", "0900 12345", "+962 8 000 0000", "87012345"} {
		f.Add(s)
	}
	fast, err := newParser("JO", 0, 0)
	if err != nil {
		f.Fatal(err)
	}
	slow := *fast
	slow.fast = false
	f.Fuzz(func(t *testing.T, input string) {
		gotN, gotR := fast.parse(input)
		wantN, wantR := slow.parse(input)
		if gotN != wantN || gotR != wantR {
			t.Fatalf("parse(%q): fast path %+v %q, full parse %+v %q", input, gotN, gotR, wantN, wantR)
		}
	})
}
