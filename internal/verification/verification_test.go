package verification

import (
	"testing"
	"time"
)

func TestFallbackDelay(t *testing.T) {
	if d := (Service{}).FallbackDelay(); d != DefaultFallbackAfter {
		t.Errorf("a service without its own: %s, want %s", d, DefaultFallbackAfter)
	}
	if d := (Service{FallbackAfter: 5 * time.Second}).FallbackDelay(); d != 5*time.Second {
		t.Errorf("a service's own: %s", d)
	}
}

func TestCodeChannel(t *testing.T) {
	for _, tc := range []struct{ v, code, want string }{
		{"sms", "", "sms"}, {"email", "", "email"}, {"", "", "sms"}, {"sms", "email", "email"},
	} {
		if got := (Verification{Channel: tc.v}).CodeChannel(Code{Channel: tc.code}); got != tc.want {
			t.Errorf("verification %q, code %q: %q, want %q", tc.v, tc.code, got, tc.want)
		}
	}
}
