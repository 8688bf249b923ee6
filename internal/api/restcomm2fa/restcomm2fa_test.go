package restcomm2fa

import (
	"bytes"
	"testing"

	"github.com/otpgate/otpgate/internal/api"
)

// marshal is v as api.WriteJSON writes it.
func marshal(t testing.TB, v verificationJSON) []byte {
	b, err := api.MarshalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerificationJSONMatchesEncodingJSON(t *testing.T) {
	five, zero := 5, 0
	full := verificationJSON{
		SID: "VE01a2520af9134c47d25bb72e6e699ba5", AccountSID: "AC01a2520af9120fcc7524162cddc683a6", Service: "sign-in \"app\"",
		ServiceSID: "VA01", To: "+962790320012", From: "OTPGate", Channel: "sms", Status: "pending", SendAttempts: 2,
		CreatedAt: "2026-12-07T20:00:00Z", UpdatedAt: "2026-12-07T20:00:01Z", ExpiresAt: "2026-12-07T20:10:00Z",
		MessageSID: "SM01", Operator: "Zain",
	}
	checked := full
	checked.Valid, checked.AttemptsRemaining, checked.MessageSID, checked.Operator = true, &five, "", ""
	spent := checked
	spent.AttemptsRemaining, spent.Service, spent.To = &zero, "رمز\n<&>", "user@example.com"
	for name, v := range map[string]verificationJSON{"send": full, "check": checked, "last check": spent, "empty": {}} {
		if got, want := v.appendJSON(nil), marshal(t, v); !bytes.Equal(got, want) {
			t.Errorf("%s: appendJSON wrote\n%s\nencoding/json writes\n%s", name, got, want)
		}
	}
}

func FuzzVerificationJSON(f *testing.F) {
	f.Add("VE1", "+962790320012", "pending", "SM1", "Zain", true, 3, 5, true)
	f.Add("", "\xff\u2028", "", "", "", false, -1, 0, false)
	f.Fuzz(func(t *testing.T, sid, to, status, msg, op string, valid bool, sends, left int, hasLeft bool) {
		v := verificationJSON{SID: sid, To: to, Status: status, MessageSID: msg, Operator: op, Valid: valid, SendAttempts: sends,
			Service: to + sid, CreatedAt: status}
		if hasLeft {
			v.AttemptsRemaining = &left
		}
		if got, want := v.appendJSON(nil), marshal(t, v); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON wrote\n%s\nencoding/json writes\n%s", got, want)
		}
	})
}

// BenchmarkVerificationJSON: a check's answer built by appendJSON, and by
// encoding/json as api.WriteJSON would build it.
func BenchmarkVerificationJSON(b *testing.B) {
	left := 4
	v := verificationJSON{
		SID: "VE01a2520af9134c47d25bb72e6e699ba5", AccountSID: "AC01a2520af9120fcc7524162cddc683a6", Service: "bench",
		ServiceSID: "VA01a2520af9120fcc7524162cddc683a6", To: "+962790320012", From: "OTPGate", Channel: "sms", Status: "pending",
		SendAttempts: 1, AttemptsRemaining: &left,
		CreatedAt: "2026-12-07T20:00:00Z", UpdatedAt: "2026-12-07T20:00:01Z", ExpiresAt: "2026-12-07T20:10:00Z",
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.appendJSON(make([]byte, 0, 512))
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			marshal(b, v)
		}
	})
}
