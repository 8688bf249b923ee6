package verify

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
)

// Keys holds the keys derived from the server secret. The secret itself is
// never used directly, so each purpose has its own key.
type Keys struct {
	code []byte      // HMAC key for stored codes
	seal cipher.AEAD // AES-256-GCM for outbox bodies
}

// NewKeys derives otpgate's keys from the server secret (at least 32 bytes).
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("server secret is %d bytes; at least 32 are needed", len(secret))
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("otpgate outbox seal v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keys{code: derive("otpgate code hmac v1"), seal: aead}, nil
}

// hashCode returns HMAC-SHA256(codeKey, verificationSID ":" code).
func (k *Keys) hashCode(verificationSID, code string) []byte {
	m := hmac.New(sha256.New, k.code)
	m.Write([]byte(verificationSID))
	m.Write([]byte{':'})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// matches reports whether code's HMAC equals want, in constant time.
func (k *Keys) matches(verificationSID, code string, want []byte) bool {
	return subtle.ConstantTimeCompare(k.hashCode(verificationSID, code), want) == 1
}

// Seal encrypts an outbox body; messageSID is bound as associated data, so a
// sealed body cannot be moved to another message.
func (k *Keys) Seal(messageSID string, body []byte) []byte {
	nonce := make([]byte, k.seal.NonceSize(), k.seal.NonceSize()+len(body)+k.seal.Overhead())
	rand.Read(nonce)
	return k.seal.Seal(nonce, nonce, body, []byte(messageSID))
}

// Open decrypts what Seal sealed for messageSID.
func (k *Keys) Open(messageSID string, sealed []byte) ([]byte, error) {
	n := k.seal.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed outbox body is too short")
	}
	body, err := k.seal.Open(nil, sealed[:n], sealed[n:], []byte(messageSID))
	if err != nil {
		return nil, fmt.Errorf("open outbox body of %s: %w (was the server secret changed?)", messageSID, err)
	}
	return body, nil
}

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
