package factor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// RFC 6238, Appendix B: the published codes of its three seeds at six
// times, 8 digits, a 30-second step.
func TestRFC6238Vectors(t *testing.T) {
	seeds := map[Alg]string{
		SHA1:   "12345678901234567890",
		SHA256: "12345678901234567890123456789012",
		SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, v := range vectors {
		for alg, want := range map[Alg]string{SHA1: v.sha1, SHA256: v.sha256, SHA512: v.sha512} {
			c := Config{TimeStep: 30, Skew: 0, CodeLength: 8, Alg: alg}
			now := time.Unix(v.unix, 0)
			if got := c.Code([]byte(seeds[alg]), c.Step(now)); got != want {
				t.Errorf("%s at %d: code %s, RFC 6238 says %s", alg, v.unix, got, want)
			}
			if step, ok := c.Match([]byte(seeds[alg]), want, now); !ok || step != c.Step(now) {
				t.Errorf("%s at %d: Match(%s) = %d, %v", alg, v.unix, want, step, ok)
			}
		}
	}
}

func TestMatchSkew(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	for _, tt := range []struct {
		skew, offset int
		ok           bool
	}{
		{1, -1, true}, {1, 1, true}, {1, -2, false}, {1, 2, false}, {0, 1, false}, {0, 0, true}, {2, -2, true}, {2, 3, false},
	} {
		c := Config{TimeStep: 30, Skew: tt.skew, CodeLength: 6, Alg: SHA1}
		want := c.Step(now) + int64(tt.offset)
		step, ok := c.Match(secret, c.Code(secret, want), now)
		if ok != tt.ok || (ok && step != want) {
			t.Errorf("skew %d, code of step now%+d: got step %d ok %v, want ok %v", tt.skew, tt.offset, step, ok, tt.ok)
		}
	}
	c := Config{TimeStep: 30, Skew: 1, CodeLength: 6, Alg: SHA1}
	if got := c.Code(secret, c.Step(now)); len(got) != 6 || got != "050471" {
		t.Errorf("6 digits of RFC 6238's 14050471: %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		c     Config
		field string
	}{
		{DefaultConfig, ""},
		{Config{TimeStep: 60, Skew: 2, CodeLength: 8, Alg: SHA512}, ""},
		{Config{TimeStep: 19, Skew: 1, CodeLength: 6, Alg: SHA1}, "config.TimeStep"},
		{Config{TimeStep: 61, Skew: 1, CodeLength: 6, Alg: SHA1}, "config.TimeStep"},
		{Config{TimeStep: 30, Skew: 3, CodeLength: 6, Alg: SHA1}, "config.Skew"},
		{Config{TimeStep: 30, Skew: 1, CodeLength: 2, Alg: SHA1}, "config.CodeLength"},
		{Config{TimeStep: 30, Skew: 1, CodeLength: 9, Alg: SHA1}, "config.CodeLength"},
		{Config{TimeStep: 30, Skew: 1, CodeLength: 6, Alg: "md5"}, "config.Alg"},
	} {
		err := tt.c.Validate()
		var e *otpgate.Error
		if tt.field == "" && err != nil || tt.field != "" && (!errors.As(err, &e) || e.Field != tt.field) {
			t.Errorf("%+v: %v, want an error about %q", tt.c, err, tt.field)
		}
	}
}

func TestSecretAndURI(t *testing.T) {
	b, err := DecodeSecret("gezd gnbv gy3t qojq gezd gnbv gy3t qojq")
	if err != nil || string(b) != "12345678901234567890" {
		t.Fatalf("DecodeSecret: %q %v", b, err)
	}
	if EncodeSecret(b) != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Errorf("EncodeSecret: %s", EncodeSecret(b))
	}
	for _, bad := range []string{"GEZDGNBV", "GEZDGNBVGY3TQOJQ1", "not base32 at all!"} {
		if _, err := DecodeSecret(bad); err == nil {
			t.Errorf("DecodeSecret(%q) accepted", bad)
		}
	}
	u := URI("My Bank", "Ann's phone", b, DefaultConfig)
	want := "otpauth://totp/My%20Bank:Ann%27s%20phone?algorithm=SHA1&digits=6&issuer=My+Bank&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if u != want {
		t.Errorf("URI:\n got %s\nwant %s", u, want)
	}
}

func TestIdentity(t *testing.T) {
	for id, ok := range map[string]bool{
		"ff483d1ff591898a9942916050d2ca3f": true, "user_123-x": true, "short": false,
		strings.Repeat("a", 65): false, "+962790340001": false, "ann@example.com": false,
	} {
		if err := ValidIdentity(id); (err == nil) != ok {
			t.Errorf("ValidIdentity(%q) = %v", id, err)
		}
	}
}

// The parsers of what callers send: a secret and a code never panic, and
// what they accept is what they say.
func FuzzSecretAndCode(f *testing.F) {
	for _, s := range []string{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "gezd gnbv gy3t qojq", "12 34-56", "٠١٢٣٤٥", "", "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := DecodeSecret(s); err == nil {
			if len(b) < 10 {
				t.Errorf("DecodeSecret(%q) accepted %d bytes", s, len(b))
			}
			if again, err := DecodeSecret(EncodeSecret(b)); err != nil || string(again) != string(b) {
				t.Errorf("DecodeSecret(EncodeSecret(%x)) = %x, %v", b, again, err)
			}
		}
		if c, err := code(s, DefaultConfig); err == nil && (len(c) != 6 || strings.Trim(c, "0123456789") != "") {
			t.Errorf("code(%q) = %q", s, c)
		}
	})
}
