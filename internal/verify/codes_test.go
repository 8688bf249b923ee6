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

// Every digit of a code is drawn evenly: over 20,000 six-digit codes each
// of the ten digits appears about 2,000 times in each position.
func TestNewCodeDigitsEven(t *testing.T) {
	const draws = 20000
	var counts [6][10]int
	for range draws {
		c := newCode(6)
		for i := range c {
			counts[i][c[i]-'0']++
		}
	}
	for pos, ds := range counts {
		for d, k := range ds {
			// Expected 2,000 with a standard deviation of 42: 1,800 and
			// 2,200 are nearly five deviations out.
			if k < 1800 || k > 2200 {
				t.Errorf("digit %d at position %d drawn %d times in %d codes; want about 2,000", d, pos, k, draws)
			}
		}
	}
}

func BenchmarkNewCode(b *testing.B) {
	for b.Loop() {
		newCode(6)
	}
}
