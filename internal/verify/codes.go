package verify

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

var pow10 = func() [11]*big.Int {
	var p [11]*big.Int
	for i := range p {
		p[i] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(i)), nil)
	}
	return p
}()

// newCode returns a uniformly random numeric code of n digits (leading zeros
// kept). crypto/rand.Int draws by rejection, so there is no modulo bias.
func newCode(n int) string {
	v, err := rand.Int(rand.Reader, pow10[n])
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%0*d", n, v)
}
