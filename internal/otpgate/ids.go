package otpgate

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// SID prefixes, as Twilio and Restcomm use them.
const (
	PrefixAccount      = "AC"
	PrefixVerification = "VE"
	PrefixService      = "VA"
	PrefixMessage      = "SM"
)

// NewSID returns prefix followed by 32 lowercase hex characters (128 random bits).
func NewSID(prefix string) string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics on a broken source)
	buf := make([]byte, len(prefix)+32)
	copy(buf, prefix)
	hex.Encode(buf[len(prefix):], b[:])
	return string(buf)
}

// ValidSID reports whether s is prefix followed by 32 lowercase hex characters.
func ValidSID(s, prefix string) bool {
	if len(s) != len(prefix)+32 || s[:len(prefix)] != prefix {
		return false
	}
	for _, c := range []byte(s[len(prefix):]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
