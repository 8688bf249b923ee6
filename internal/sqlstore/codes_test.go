package sqlstore

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/verification"
)

// Codes written before channels were kept read as the verification's
// channel; codes of two channels keep each its own, and a blob of codes of
// the verification's channel only is written as before.
func TestCodesKeepTheirChannels(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	sms := verification.Code{Hash: bytes.Repeat([]byte{1}, 32), ExpiresAt: at}
	email := verification.Code{Hash: bytes.Repeat([]byte{2}, 32), ExpiresAt: at.Add(time.Minute), Channel: "email"}

	old := EncodeCodes([]verification.Code{sms, sms})
	if len(old) != 2*codeEntryLen {
		t.Fatalf("codes of the verification's channel take %d bytes, want %d (the format before channels)", len(old), 2*codeEntryLen)
	}
	got, err := DecodeCodes(old)
	if err != nil || !reflect.DeepEqual(got, []verification.Code{sms, sms}) {
		t.Fatalf("DecodeCodes(old) = %+v, %v", got, err)
	}
	both := []verification.Code{sms, email}
	got, err = DecodeCodes(EncodeCodes(both))
	if err != nil || !reflect.DeepEqual(got, both) {
		t.Fatalf("codes of two channels: %+v, %v", got, err)
	}
	v := verification.Verification{Channel: "sms", Codes: got}
	if v.CodeChannel(got[0]) != "sms" || v.CodeChannel(got[1]) != "email" {
		t.Fatalf("channels %q, %q", v.CodeChannel(got[0]), v.CodeChannel(got[1]))
	}
	for _, bad := range [][]byte{old[:39], append([]byte{channelsMark}, old[:40]...), append(EncodeCodes(both)[:41], 9)} {
		if _, err := DecodeCodes(bad); err == nil {
			t.Errorf("DecodeCodes of %d corrupt bytes: no error", len(bad))
		}
	}
}
