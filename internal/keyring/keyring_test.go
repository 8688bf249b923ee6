package keyring_test

import (
	"bytes"
	"testing"

	"github.com/otpgate/otpgate/internal/keyring"
)

func TestKeys(t *testing.T) {
	if _, err := keyring.New(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte secret was accepted")
	}
	k, err := keyring.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := keyring.New(bytes.Repeat([]byte{8}, 32))

	h := k.HashCode("VE1", "123456")
	if len(h) != 32 || !k.CodeMatches("VE1", "123456", h) {
		t.Fatal("a code does not match its own hash")
	}
	for _, tt := range []struct{ sid, code string }{{"VE1", "123457"}, {"VE2", "123456"}, {"VE1", "0123456"}} {
		if k.CodeMatches(tt.sid, tt.code, h) {
			t.Errorf("hash of VE1/123456 matches %s/%s", tt.sid, tt.code)
		}
	}
	if other.CodeMatches("VE1", "123456", h) {
		t.Error("a hash made under one secret matches under another")
	}

	sealed := k.Seal("SM1", []byte("Your code is 123456"))
	if bytes.Contains(sealed, []byte("123456")) {
		t.Fatal("the sealed body contains the code in clear")
	}
	if body, err := k.Open("SM1", sealed); err != nil || string(body) != "Your code is 123456" {
		t.Fatalf("Open = %q, %v", body, err)
	}
	if _, err := k.Open("SM2", sealed); err == nil {
		t.Error("a body sealed for SM1 opened as SM2")
	}
	if _, err := other.Open("SM1", sealed); err == nil {
		t.Error("a body opened under another secret")
	}
	if _, err := k.Open("SM1", sealed[:5]); err == nil {
		t.Error("a truncated body opened")
	}
}
