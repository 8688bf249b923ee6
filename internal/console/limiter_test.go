package console

import (
	"fmt"
	"testing"
	"time"
)

// The limiter keeps at most its max keys: a flood of new keys (addresses,
// or IDs an attacker makes up) forgets those least locked out first, never
// a key locked out while one that is not remains.
func TestLoginLimiterBounded(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter(4)
	for range loginBurst {
		l.failed("victim", now)
	}
	if l.wait("victim", now) <= 0 {
		t.Fatal("5 failures did not lock the key out")
	}
	for i := range 1000 {
		l.failed(fmt.Sprintf("flood-%d", i), now)
		if n := len(l.buckets); n > 4 {
			t.Fatalf("after %d new keys the limiter holds %d", i+1, n)
		}
	}
	if l.wait("victim", now) <= 0 {
		t.Error("the flood of new keys freed the key locked out")
	}
	// Keys whose count has refilled are forgotten first.
	later := now.Add(loginBurst * loginEvery)
	l.failed("new", later)
	if _, ok := l.buckets["victim"]; ok || len(l.buckets) != 1 {
		t.Errorf("after a minute, the limiter still holds %d keys", len(l.buckets))
	}
	if l.wait("", now) != 0 {
		t.Error("the empty key (a token that names no ID) waits")
	}
}

func TestNamedID(t *testing.T) {
	id := "CT0123456789abcdef0123456789abcdef"
	secret := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tt := range []struct{ token, want string }{
		{"otpc_" + id + "_" + secret, id},
		{"otpc_" + secret, ""}, // the older form
		{"otpc_" + id + "_" + secret[1:], ""},
		{"otpc_" + id + "-" + secret, ""},
		{"otpc_CT0123456789ABCDEF0123456789abcdef_" + secret, ""},
		{"otpc_XX" + id[2:] + "_" + secret, ""},
		{"otpc_" + id + "_" + secret[:63] + "g", ""},
		{"otpx_" + id + "_" + secret, ""},
		{"", ""},
	} {
		if got := namedID(tt.token); got != tt.want {
			t.Errorf("namedID(%q) = %q, want %q", tt.token, got, tt.want)
		}
	}
}
