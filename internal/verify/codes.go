package verify

import (
	"crypto/rand"
	"encoding/binary"
	"math"
)

// pow10[n] is 10^n, for codes of up to 10 digits.
var pow10 = func() [11]uint64 {
	var p [11]uint64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// newCode returns a uniformly random numeric code of n digits (leading zeros
// kept). It draws 64 random bits and takes them modulo 10^n, drawing again
// when they fall in the incomplete last run of 10^n values at the top of
// the range, so there is no modulo bias (a redraw happens less than once in
// 10^9 draws).
func newCode(n int) string {
	m := pow10[n]
	limit := math.MaxUint64 - math.MaxUint64%m // [0, limit) holds whole runs of m
	var b [8]byte
	for {
		rand.Read(b[:]) // never fails (crypto/rand panics on a broken source)
		x := binary.LittleEndian.Uint64(b[:])
		if x >= limit {
			continue
		}
		x %= m
		code := make([]byte, n)
		for i := n - 1; i >= 0; i-- {
			code[i] = byte('0' + x%10)
			x /= 10
		}
		return string(code)
	}
}
