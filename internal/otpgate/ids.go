package otpgate

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// SID prefixes, as Twilio and Restcomm use them.
const (
	PrefixAccount      = "AC"
	PrefixVerification = "VE"
	PrefixService      = "VA"
	PrefixMessage      = "SM"
	PrefixCallback     = "CB"
)

// NewSID returns prefix followed by 32 lowercase hex characters: 48 bits of
// the Unix time in milliseconds, then 80 random bits (the layout of a
// UUIDv7). Within a millisecond the 80 bits count up from a random start, so
// the SIDs one process makes sort in the order it made them. SIDs name
// records; they are not secrets. Being ordered by time, new rows go to the
// end of the database's indexes instead of random pages, which keeps each
// group commit's writes small.
func NewSID(prefix string) string {
	b := sidGen.next()
	buf := make([]byte, len(prefix)+32)
	copy(buf, prefix)
	hex.Encode(buf[len(prefix):], b[:])
	return string(buf)
}

var sidGen sidSource

type sidSource struct {
	mu   sync.Mutex
	last [16]byte
	ms   uint64
}

func (g *sidSource) next() [16]byte {
	ms := uint64(time.Now().UnixMilli())
	g.mu.Lock()
	defer g.mu.Unlock()
	if ms <= g.ms {
		// Same millisecond (or the clock stepped back): count up.
		for i := 15; i >= 6; i-- {
			g.last[i]++
			if g.last[i] != 0 {
				return g.last
			}
		}
		ms = g.ms + 1 // 80 bits ran over: borrow the next millisecond
	}
	g.ms = ms
	for i := 5; i >= 0; i-- {
		g.last[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(g.last[6:]) // never fails (crypto/rand panics on a broken source)
	g.last[6] &= 0x7f     // leave room to count up
	return g.last
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
