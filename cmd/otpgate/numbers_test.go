package main

import (
	"fmt"
	"testing"
)

// Every spelling a user may type reaches the same verification, and bad
// numbers are refused with a 400 naming them.
func TestNumberSpellings(t *testing.T) {
	s := mustServe(t, nil)
	// Any country: this is about spellings (geo permissions have their own test).
	s.allowCountries(t, "*")
	tests := []struct {
		input string
		want  string // E.164, or "" for a 400
	}{
		{"962790320012", "+962790320012"},
		{"+962790320012", "+962790320012"},
		{"+962 79 032 0012", "+962790320012"},
		{"00962790320012", "+962790320012"},
		{"0790320012", "+962790320012"},
		{"790320012", "+962790320012"},
		{"079-032-0012", "+962790320012"},
		{"(079) 032 0012", "+962790320012"},
		{"+962-79-032-0012", "+962790320012"},
		{"٠٧٩٠٣٢٠٠١٢", "+962790320012"},
		{"+٩٦٢٧٩٠٣٢٠٠١٢", "+962790320012"},
		{"۰۷۹۰۳۲۰۰۱۲", "+962790320012"},
		{"07٩0 32 ٠٠12", "+962790320012"},
		{" 0790320012 ", "+962790320012"},
		{"0771234567", "+962771234567"},
		{"0781234567", "+962781234567"},
		{"+44 7400 123456", "+447400123456"},
		{"+1 201 555 0123", "+12015550123"},
		{"+96265000000", ""}, // Amman landline
		{"065000000", ""},    // landline, local form
		{"0790", ""},         // too short
		{"07903200121234", ""},
		{"hello", ""},
		{"+", ""},
		{"00", ""},
		{"+999 123", ""},
	}
	for i, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			service := fmt.Sprintf("spell-%d", i) // a fresh verification for each spelling
			r := s.postJSON(t, "/2fa/send", map[string]string{"service": service, "from": "MyApp", "to": tt.input})
			if tt.want == "" {
				if r.Status != 400 || r.num("code") != 60200 {
					t.Fatalf("send to %q: %d %s, want 400 code 60200", tt.input, r.Status, r.Raw)
				}
				return
			}
			if r.Status != 201 || r.str("to") != tt.want {
				t.Fatalf("send to %q: %d %s, want 201 to %s", tt.input, r.Status, r.Raw, tt.want)
			}
			// The same spelling finds the verification in verify.
			if c := s.check(t, service, tt.input, "0000"); c.Status != 200 || c.str("sid") != r.str("sid") {
				t.Fatalf("verify with number %q: %d %s", tt.input, c.Status, c.Raw)
			}
		})
	}
}
