package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/keyring"
	"github.com/otpgate/otpgate/internal/store"
)

// The server secret and the store: codes are HMACs under the secret, and
// outbox bodies and auth tokens are sealed under it, so a node or command
// with another secret answers a right code "valid": false and writes what
// no other node can read. The store keeps a fingerprint of the secret it
// was set up with, and every command that uses the secret checks it first.

// fingerprintLabel is what the fingerprint is an HMAC of.
const fingerprintLabel = "otpgate secret fingerprint v1"

// secretFingerprint is what a store keeps of the server secret: an HMAC of
// a fixed label under it, which says nothing of the secret itself.
func secretFingerprint(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(fingerprintLabel))
	return m.Sum(nil)
}

// secretStore is what checking the server secret needs of a store.
type secretStore interface {
	SecretFingerprint(ctx context.Context) ([]byte, error)
	SetSecretFingerprintIfAbsent(ctx context.Context, fp []byte) ([]byte, error)
	Accounts(ctx context.Context) ([]account.Account, error)
	AccountTokenSealed(ctx context.Context, sid string) ([]byte, error)
}

var _ secretStore = Store(nil)

// serverSecret is where a command finds the server secret, and what it may
// do when there is none.
type serverSecret struct {
	File    string // --secret-file; "" for DATA_DIR/secret
	DataDir string
	Shared  bool // the database is PostgreSQL, shared with other nodes (for the words of a refusal)
	// Create lets a store that has no fingerprint and no account get a new
	// secret at DATA_DIR/secret (serve; accounts create). The data
	// directory must exist.
	Create bool
	// Notice, if set, hears that a new secret was made for a shared
	// database.
	Notice func(line string)
}

// path is the secret's file, absolute (for messages), and whether it is
// the default one.
func (s serverSecret) path() (string, bool) {
	if s.File != "" {
		return absPath(s.File), false
	}
	return absPath(filepath.Join(s.DataDir, "secret")), true
}

// keys reads the server secret and checks it against the fingerprint st
// keeps, recording the fingerprint if st has none: only once the secret
// opens the auth tokens st holds (a database from before fingerprints), or
// st holds none. A secret that is not the store's is refused, saying which
// file was read and where the right one is.
func (s serverSecret) keys(ctx context.Context, st secretStore) (*keyring.Keys, error) {
	file, isDefault := s.path()
	stored, err := st.SecretFingerprint(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading the fingerprint of the server secret: %w", err)
	}
	secret, err := loadSecret(file, s.DataDir)
	if errors.Is(err, os.ErrNotExist) {
		switch {
		case stored != nil:
			return nil, s.refuse(fmt.Sprintf("no server secret at %s, and this database was set up with one", file))
		case !s.Create || !isDefault:
			return nil, s.refuse(fmt.Sprintf("no server secret at %s", file))
		}
		accs, aerr := st.Accounts(ctx)
		if aerr != nil {
			return nil, aerr
		}
		if len(accs) > 0 {
			return nil, s.refuse(fmt.Sprintf("no server secret at %s, and this database already holds accounts made with one", file))
		}
		if secret, err = loadSecret("", s.DataDir); err != nil { // creates it
			return nil, err
		}
		if s.Notice != nil && s.Shared {
			s.Notice(fmt.Sprintf("created a new server secret %s for this database: every other node needs a copy of it (--secret-file)", file))
		}
	}
	if err != nil {
		return nil, err
	}
	keys, err := keyring.New(secret)
	if err != nil {
		return nil, err
	}
	mine := secretFingerprint(secret)
	if stored != nil {
		if !hmac.Equal(stored, mine) {
			return nil, s.refuse(fmt.Sprintf("this database was set up with another server secret than the one in %s", file))
		}
		return keys, nil
	}
	if ok, err := opensTokens(ctx, st, keys); err != nil {
		return nil, err
	} else if !ok {
		return nil, s.refuse(fmt.Sprintf("this database was set up with another server secret than the one in %s (it opens none of the accounts' sealed auth tokens)", file))
	}
	got, err := st.SetSecretFingerprintIfAbsent(ctx, mine)
	if err != nil {
		return nil, fmt.Errorf("recording the fingerprint of the server secret: %w", err)
	}
	if !hmac.Equal(got, mine) { // another node, started at the same time with another secret, was first
		return nil, s.refuse(fmt.Sprintf("this database was set up with another server secret than the one in %s", file))
	}
	return keys, nil
}

// refuse is the error of a secret that is not the store's, or is missing:
// what was found, then where the right one is.
func (s serverSecret) refuse(what string) error {
	where := "the secret this database was made with (the DATA_DIR/secret of the server that made it, or the file its --secret-file named)"
	if s.Shared {
		where = "the secret the other nodes use (their DATA_DIR/secret, or the file their --secret-file names)"
	}
	return fmt.Errorf("%s; give --secret-file pointing at %s; a new secret would make every stored code, sealed body and auth token unreadable", what, where)
}

// compare checks the server secret, if there is one, against a fingerprint
// read without opening the store (otpgate migrate, copy): nothing to check
// when either is missing, unless the secret file was named.
func (s serverSecret) compare(stored []byte) error {
	if stored == nil {
		return nil
	}
	file, isDefault := s.path()
	secret, err := loadSecret(file, s.DataDir)
	if errors.Is(err, os.ErrNotExist) && isDefault {
		return nil
	}
	if err != nil {
		return err
	}
	if !hmac.Equal(stored, secretFingerprint(secret)) {
		return s.refuse(fmt.Sprintf("this database was set up with another server secret than the one in %s", file))
	}
	return nil
}

// opensTokens reports whether keys open the sealed auth tokens of the
// store's accounts (the first few that have one): true when one opens, or
// when no account has one to judge by.
func opensTokens(ctx context.Context, st secretStore, keys *keyring.Keys) (bool, error) {
	accs, err := st.Accounts(ctx)
	if err != nil {
		return false, err
	}
	tried := 0
	for _, a := range accs {
		sealed, err := st.AccountTokenSealed(ctx, a.SID)
		if err != nil {
			return false, err
		}
		if len(sealed) == 0 {
			continue
		}
		if _, err := keys.Open(account.TokenAAD(a.SID), sealed); err == nil {
			return true, nil
		}
		if tried++; tried == 3 {
			break
		}
	}
	return tried == 0, nil
}

// secretMatches checks the server secret serve would use against the
// fingerprint the database keeps (otpgate doctor), changing nothing. A
// database that cannot be read, or keeps no fingerprint yet, adds no line:
// the database's and the secret's own checks speak of them.
func (d *doctor) secretMatches(ctx context.Context) []finding {
	s := serverSecret{File: d.cfg.SecretFile, DataDir: d.cfg.DataDir, Shared: isPostgres(d.cfg.DB)}
	in, err := inspectStore(ctx, d.cfg.DB, d.cfg.DataDir, d.timeout)
	stored := in.Fingerprint
	if err != nil || stored == nil {
		return nil
	}
	file, isDefault := s.path()
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) && isDefault {
		return []finding{fail("secret: serve would refuse to start: %v", s.refuse(fmt.Sprintf("no server secret at %s, and this database was set up with one", file)))}
	}
	if err := s.compare(stored); err != nil {
		return []finding{fail("secret: serve would refuse to start: %v", err)}
	}
	return []finding{ok("secret: the one this database was set up with (its fingerprint matches)")}
}

// absPath is path made absolute, for messages (path itself if that fails).
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
