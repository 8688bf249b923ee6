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

// NewSID returns prefix followed by 32 lowercase hex characters: 48 bits of
// the Unix time in milliseconds, then 80 random bits (the layout of a UUIDv7).
// SIDs name records, they are not secrets; being ordered by time, new ones
// go to the end of the database's indexes instead of random pages, which
// keeps each group commit's writes small.
func NewSID(prefix string) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:]) // never fails (crypto/rand panics on a broken source)
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
