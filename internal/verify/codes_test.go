package verify

import (
	"testing"

	"github.com/otpgate/otpgate/internal/verification"
)

func TestNewCode(t *testing.T) {
	for n := verification.MinCodeLength; n <= verification.MaxCodeLength; n++ {
		var firstDigit [10]int
		for range 2000 {
			c := newCode(n)
			if len(c) != n {
				t.Fatalf("newCode(%d) = %q: wrong length", n, c)
			}
			for _, r := range c {
				if r < '0' || r > '9' {
					t.Fatalf("newCode(%d) = %q: not all digits", n, c)
				}
			}
			firstDigit[c[0]-'0']++
		}
		// Leading zeros are kept and every leading digit occurs (2000 draws,
		// expected 200 each; below 100 would be a broken generator).
		for d, k := range firstDigit {
			if k < 100 {
				t.Errorf("newCode(%d): leading digit %d drawn %d times in 2000", n, d, k)
			}
		}
	}
}
