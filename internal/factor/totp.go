package factor

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// Alg is the HMAC hash of a TOTP factor's codes (RFC 6238).
type Alg string

const (
	SHA1   Alg = "sha1"
	SHA256 Alg = "sha256"
	SHA512 Alg = "sha512"
)

func (a Alg) hash() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return sha1.New
}

// Config is a TOTP factor's settings, Twilio's: the time step in seconds
// (20-60), the steps of skew accepted either side of now (0-2), the digits
// of a code (3-8) and the hash.
type Config struct {
	TimeStep   int
	Skew       int
	CodeLength int
	Alg        Alg
}

// The ranges Twilio's TOTP factors accept, and its defaults (those of
// RFC 6238 and authenticator apps).
const (
	MinTimeStep, MaxTimeStep, DefaultTimeStep       = 20, 60, 30
	MinSkew, MaxSkew, DefaultSkew                   = 0, 2, 1
	MinCodeLength, MaxCodeLength, DefaultCodeLength = 3, 8, 6
	DefaultAlg                                      = SHA1
)

// DefaultConfig is Twilio's default: 30 s, one step of skew, 6 digits, SHA-1.
var DefaultConfig = Config{TimeStep: DefaultTimeStep, Skew: DefaultSkew, CodeLength: DefaultCodeLength, Alg: DefaultAlg}

// Validate returns a field error naming the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.TimeStep < MinTimeStep || c.TimeStep > MaxTimeStep:
		return invalid("config.TimeStep", " %d: seconds a code lasts, %d-%d", c.TimeStep, MinTimeStep, MaxTimeStep)
	case c.Skew < MinSkew || c.Skew > MaxSkew:
		return invalid("config.Skew", " %d: time steps accepted either side of now, %d-%d", c.Skew, MinSkew, MaxSkew)
	case c.CodeLength < MinCodeLength || c.CodeLength > MaxCodeLength:
		return invalid("config.CodeLength", " %d: digits of a code, %d-%d", c.CodeLength, MinCodeLength, MaxCodeLength)
	}
	switch c.Alg {
	case SHA1, SHA256, SHA512:
		return nil
	}
	return invalid("config.Alg", " %q: sha1, sha256 or sha512", c.Alg)
}

// Step is the time step t falls in (RFC 6238's T).
func (c Config) Step(t time.Time) int64 { return t.Unix() / int64(c.TimeStep) }

// Code is the code of a time step (RFC 4226's HOTP of the step counter).
func (c Config) Code(secret []byte, step int64) string {
	m := hmac.New(c.Alg.hash(), secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range c.CodeLength {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", c.CodeLength, v%mod)
}

// Match returns the latest time step within the skew of now whose code is
// code, compared in constant time; ok is false when none is.
func (c Config) Match(secret []byte, code string, now time.Time) (step int64, ok bool) {
	t := c.Step(now)
	for i := int64(c.Skew); i >= -int64(c.Skew); i-- {
		if subtle.ConstantTimeCompare([]byte(c.Code(secret, t+i)), []byte(code)) == 1 && !ok {
			step, ok = t+i, true
		}
	}
	return step, ok
}

// SecretBytes is the length of a secret otpgate makes: 160 bits, as RFC
// 4226 recommends and authenticator apps expect.
const SecretBytes = 20

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeSecret is secret in base32 without padding, as authenticator apps
// take it.
func EncodeSecret(secret []byte) string { return b32.EncodeToString(secret) }

// DecodeSecret reads a base32 secret (any case, spaces and padding
// ignored) of at least 80 bits.
func DecodeSecret(s string) ([]byte, error) {
	clean := strings.ToUpper(strings.TrimRight(strings.ReplaceAll(s, " ", ""), "="))
	b, err := b32.DecodeString(clean)
	if err != nil || len(b) < 10 {
		return nil, invalid("binding.Secret", ": a base32 secret (A-Z, 2-7) of at least 16 characters (80 bits)")
	}
	return b, nil
}

// URI is the otpauth:// URI an authenticator app scans (Google
// Authenticator's key URI format): the issuer (the service's name) and the
// factor's name label it.
func URI(issuer, name string, secret []byte, c Config) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(name)
	q := url.Values{}
	q.Set("secret", EncodeSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", strings.ToUpper(string(c.Alg)))
	q.Set("digits", fmt.Sprint(c.CodeLength))
	q.Set("period", fmt.Sprint(c.TimeStep))
	return "otpauth://totp/" + label + "?" + q.Encode()
}
