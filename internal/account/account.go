// Package account creates API accounts and authenticates requests. Auth
// tokens are 128-bit random values, stored only as SHA-256 hashes (a fast
// hash is right for a secret with that much entropy), and compared in
// constant time.
package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// Account is an API account. Its auth token is kept as a SHA-256 hash (to
// authenticate) and sealed under the server secret (to sign callbacks, as
// Twilio signs with the auth token).
type Account struct {
	SID         string
	Name        string
	TokenHash   []byte
	TokenSealed []byte // nil when not kept
	SMSURL      string // where inbound SMS are POSTed; "" for none
	// Countries is where the account may send: ISO 3166-1 alpha-2 codes,
	// comma-separated, or "*" for anywhere; "" for the server's region.
	Countries string
	CreatedAt time.Time
}

// Store keeps accounts.
type Store interface {
	InsertAccount(ctx context.Context, a Account) error
	// Accounts returns every account (without their sealed tokens).
	Accounts(ctx context.Context) ([]Account, error)
	// AccountsVersion changes whenever an account is added or removed.
	AccountsVersion(ctx context.Context) (int64, error)
}

// Created is a new account with its auth token, shown once.
type Created struct {
	SID       string `json:"sid"`
	AuthToken string `json:"auth_token"`
	Name      string `json:"name"`
}

// Sealer seals an account's token for keeping (keyring.Keys).
type Sealer interface {
	Seal(id string, plain []byte) []byte
}

// TokenAAD is what an account's token is sealed for.
func TokenAAD(accountSID string) string { return "account-token:" + accountSID }

// Create adds an account named name and returns its SID and token. The token
// is kept as a SHA-256 hash (to authenticate) and sealed under the server
// secret (to sign status callbacks, as Twilio signs with the auth token).
func Create(ctx context.Context, st Store, sealer Sealer, name string, now time.Time) (Created, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Created{}, errors.New("an account name of 1-100 characters is required (--name)")
	}
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	c := Created{SID: otpgate.NewSID(otpgate.PrefixAccount), AuthToken: token, Name: name}
	h := sha256.Sum256([]byte(token))
	a := Account{SID: c.SID, Name: name, TokenHash: h[:], CreatedAt: now.UTC()}
	if sealer != nil {
		a.TokenSealed = sealer.Seal(TokenAAD(c.SID), []byte(token))
	}
	if err := st.InsertAccount(ctx, a); err != nil {
		return Created{}, fmt.Errorf("create account: %w", err)
	}
	return c, nil
}

// Authenticator checks account SIDs and tokens against an in-memory copy of
// the accounts table. A failed check first re-reads the table if it changed
// (an account may have been created by `otpgate accounts create` a moment
// ago), then checks again. An unknown SID and a wrong token take the same
// path: hash, compare against a stored or a dummy hash, refresh check, compare.
type Authenticator struct {
	store Store

	mu       sync.RWMutex
	accounts map[string][]byte // SID -> token hash
	version  int64
	loaded   bool
}

// NewAuthenticator returns an Authenticator reading from st.
func NewAuthenticator(st Store) *Authenticator {
	return &Authenticator{store: st, accounts: map[string][]byte{}}
}

var dummyHash = sha256.Sum256([]byte("otpgate: no such account"))

// Authenticate returns nil if token is sid's auth token.
func (a *Authenticator) Authenticate(ctx context.Context, sid, token string) error {
	h := sha256.Sum256([]byte(token))
	if a.check(sid, h[:]) {
		return nil
	}
	if err := a.refresh(ctx); err != nil {
		return err
	}
	if a.check(sid, h[:]) {
		return nil
	}
	return ErrUnauthorized
}

// ErrUnauthorized is returned for an unknown account or a wrong token alike.
var ErrUnauthorized = errors.New("unknown account or wrong auth token")

func (a *Authenticator) check(sid string, h []byte) bool {
	a.mu.RLock()
	want, ok := a.accounts[sid]
	a.mu.RUnlock()
	if !ok {
		want = dummyHash[:]
	}
	return subtle.ConstantTimeCompare(h, want) == 1 && ok
}

func (a *Authenticator) refresh(ctx context.Context) error {
	v, err := a.store.AccountsVersion(ctx)
	if err != nil {
		return err
	}
	a.mu.RLock()
	fresh := a.loaded && v == a.version
	a.mu.RUnlock()
	if fresh {
		return nil
	}
	all, err := a.store.Accounts(ctx)
	if err != nil {
		return err
	}
	m := make(map[string][]byte, len(all))
	for _, acc := range all {
		m[acc.SID] = acc.TokenHash
	}
	a.mu.Lock()
	a.accounts, a.version, a.loaded = m, v, true
	a.mu.Unlock()
	return nil
}

// Load reads every account now (at start-up), so the first request is not slower.
func (a *Authenticator) Load(ctx context.Context) error { return a.refresh(ctx) }
