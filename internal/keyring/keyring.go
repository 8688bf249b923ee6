// Package keyring holds the keys otpgate derives from its server secret: one
// to hash verification codes (HMAC-SHA256), one to seal what must be kept but
// not read at rest (AES-256-GCM: outbox bodies, auth tokens for signing). The
// secret itself is never used directly, so each purpose has its own key.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Keys are the derived keys.
type Keys struct {
	code []byte      // HMAC key for stored codes
	seal cipher.AEAD // AES-256-GCM
}

// MinSecret is the shortest server secret accepted, in bytes.
const MinSecret = 32

// New derives the keys from the server secret (at least MinSecret bytes).
func New(secret []byte) (*Keys, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("server secret is %d bytes; at least %d are needed", len(secret), MinSecret)
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

// HashCode returns HMAC-SHA256(codeKey, verificationSID ":" code): what is
// kept of a code, bound to its verification.
func (k *Keys) HashCode(verificationSID, code string) []byte {
	m := hmac.New(sha256.New, k.code)
	m.Write([]byte(verificationSID))
	m.Write([]byte{':'})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// CodeMatches reports whether code's hash equals want, in constant time.
func (k *Keys) CodeMatches(verificationSID, code string, want []byte) bool {
	return subtle.ConstantTimeCompare(k.HashCode(verificationSID, code), want) == 1
}

// Seal encrypts plain; id is bound as associated data, so what is sealed for
// one record cannot be moved to another.
func (k *Keys) Seal(id string, plain []byte) []byte {
	nonce := make([]byte, k.seal.NonceSize(), k.seal.NonceSize()+len(plain)+k.seal.Overhead())
	rand.Read(nonce)
	return k.seal.Seal(nonce, nonce, plain, []byte(id))
}

// Open decrypts what Seal sealed for id.
func (k *Keys) Open(id string, sealed []byte) ([]byte, error) {
	n := k.seal.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value is too short")
	}
	plain, err := k.seal.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("open sealed value of %s: %w (was the server secret changed?)", id, err)
	}
	return plain, nil
}
