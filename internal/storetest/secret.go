package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/otpgate/otpgate/internal/store"
)

// The fingerprint of the server secret a store was set up with: recorded
// once, by whichever node or command starts first, and never replaced.

// fingerprint is a 32-byte value with a zero byte and bytes above 0x7f in
// it, as an HMAC's may have.
func fingerprint(n byte) []byte {
	fp := bytes.Repeat([]byte{0xf0, 0x00, n}, 11)
	return fp[:32]
}

var secretTests = []testCase{
	{"NoneAtFirst", func(t *testing.T, s Store) {
		fp, err := s.SecretFingerprint(ctx)
		wantErr(t, "SecretFingerprint of a new store", err, store.ErrNotFound)
		if fp != nil {
			t.Errorf("SecretFingerprint of a new store = %x, want none", fp)
		}
	}},
	{"SetIfAbsentKeepsTheFirst", func(t *testing.T, s Store) {
		got, err := s.SetSecretFingerprintIfAbsent(ctx, fingerprint(1))
		check(t, "SetSecretFingerprintIfAbsent(1)", err)
		assertEqual(t, "the fingerprint recorded first", got, fingerprint(1))
		got, err = s.SetSecretFingerprintIfAbsent(ctx, fingerprint(2))
		check(t, "SetSecretFingerprintIfAbsent(2)", err)
		assertEqual(t, "SetSecretFingerprintIfAbsent of another (the first stays)", got, fingerprint(1))
		got, err = s.SecretFingerprint(ctx)
		check(t, "SecretFingerprint", err)
		assertEqual(t, "SecretFingerprint", got, fingerprint(1))
		if _, err := s.SetSecretFingerprintIfAbsent(ctx, nil); err == nil {
			t.Error("SetSecretFingerprintIfAbsent(nil) was accepted")
		}
	}},
	// Nodes starting at once on an empty database each offer their own;
	// every one is told the same, which is one of those offered.
	{"ConcurrentFirstStart", func(t *testing.T, s Store) {
		const nodes = 8
		got := make([][]byte, nodes)
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range nodes {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.SetSecretFingerprintIfAbsent(ctx, fingerprint(byte(i+1)))
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			check(t, fmt.Sprintf("node %d: SetSecretFingerprintIfAbsent", i+1), err)
		}
		stored, err := s.SecretFingerprint(ctx)
		check(t, "SecretFingerprint", err)
		if len(stored) != 32 || stored[2] < 1 || stored[2] > nodes || !bytes.Equal(stored, fingerprint(stored[2])) {
			t.Fatalf("stored %x, not one of those offered", stored)
		}
		for i, fp := range got {
			if !bytes.Equal(fp, stored) {
				t.Errorf("node %d was told %x, the store holds %x", i+1, fp, stored)
			}
		}
	}},
}
