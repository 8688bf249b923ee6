package smsenc

import (
	"bytes"
	"testing"
)

func TestUDH(t *testing.T) {
	tests := []struct {
		name       string
		ref        uint16
		total, seq int
		sixteenBit bool
		want       []byte
	}{
		{"8-bit", 0x2A, 3, 1, false, []byte{0x05, 0x00, 0x03, 0x2A, 0x03, 0x01}},
		{"8-bit keeps low byte", 0x12F0, 2, 2, false, []byte{0x05, 0x00, 0x03, 0xF0, 0x02, 0x02}},
		{"16-bit", 0x12F0, 4, 3, true, []byte{0x06, 0x08, 0x04, 0x12, 0xF0, 0x04, 0x03}},
		{"16-bit max", 0xFFFF, 255, 255, true, []byte{0x06, 0x08, 0x04, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UDH(tt.ref, tt.total, tt.seq, tt.sixteenBit)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("UDH = % X, want % X", got, tt.want)
			}
			ref, total, seq, n, ok := ParseUDH(append(got, 'h', 'i'))
			wantRef := tt.ref
			if !tt.sixteenBit {
				wantRef &= 0xFF
			}
			if !ok || ref != wantRef || total != tt.total || seq != tt.seq || n != len(tt.want) {
				t.Fatalf("ParseUDH = %#x %d %d %d %v", ref, total, seq, n, ok)
			}
		})
	}
}

func TestParseUDH(t *testing.T) {
	tests := []struct {
		name               string
		in                 []byte
		ref                uint16
		total, seq, hdrLen int
		ok                 bool
	}{
		{"8-bit", []byte{0x05, 0x00, 0x03, 0x7F, 0x02, 0x01, 'a'}, 0x7F, 2, 1, 6, true},
		{"16-bit", []byte{0x06, 0x08, 0x04, 0xAB, 0xCD, 0x05, 0x05}, 0xABCD, 5, 5, 7, true},
		{"after port IE", []byte{0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x01, 0x02, 0x02, 'x'}, 0x01, 2, 2, 12, true},
		{"last concat IE wins", []byte{0x0B, 0x00, 0x03, 0x01, 0x02, 0x01, 0x08, 0x04, 0x00, 0x09, 0x03, 0x02}, 0x09, 3, 2, 12, true},
		{"invalid concat IE ignored", []byte{0x0B, 0x00, 0x03, 0x01, 0x02, 0x01, 0x08, 0x04, 0x00, 0x09, 0x03, 0x04}, 0x01, 2, 1, 12, true},
		{"port IE only", []byte{0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0}, 0, 0, 0, 7, false},
		{"empty header", []byte{0x00, 'a'}, 0, 0, 0, 1, false},
		{"empty input", nil, 0, 0, 0, 0, false},
		{"udhl past end", []byte{0x05, 0x00, 0x03, 0x01}, 0, 0, 0, 0, false},
		{"ie past udhl", []byte{0x04, 0x00, 0x03, 0x01, 0x02, 0x01}, 0, 0, 0, 0, false},
		{"dangling iei", []byte{0x01, 0x00}, 0, 0, 0, 0, false},
		{"truncated 8-bit", []byte{0x05, 0x00, 0x03, 0x01, 0x02}, 0, 0, 0, 0, false},
		{"8-bit iel 2", []byte{0x04, 0x00, 0x02, 0x01, 0x02}, 0, 0, 0, 5, false},
		{"total zero", []byte{0x05, 0x00, 0x03, 0x01, 0x00, 0x00}, 0, 0, 0, 6, false},
		{"seq zero", []byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x00}, 0, 0, 0, 6, false},
		{"seq above total", []byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x03}, 0, 0, 0, 6, false},
		{"garbage text", []byte("hello world"), 0, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, total, seq, n, ok := ParseUDH(tt.in)
			if ref != tt.ref || total != tt.total || seq != tt.seq || n != tt.hdrLen || ok != tt.ok {
				t.Fatalf("ParseUDH(% X) = %#x %d %d %d %v, want %#x %d %d %d %v",
					tt.in, ref, total, seq, n, ok, tt.ref, tt.total, tt.seq, tt.hdrLen, tt.ok)
			}
		})
	}
}
