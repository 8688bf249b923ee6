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
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/policy"
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
	// Countries is where the account chose to send, within its ceiling
	// (Policy.Countries): ISO 3166-1 alpha-2 codes, comma-separated, or "*"
	// for anywhere the ceiling allows; "" for its whole ceiling.
	Countries string
	// Policy is the ceilings the operator set for the account (unset
	// fields: the server's defaults).
	Policy    policy.Policy
	CreatedAt time.Time
	// SecondaryHash is the secondary auth token's hash (nil for none): it
	// authenticates too, until promoted or deleted.
	SecondaryHash      []byte
	SecondaryCreatedAt time.Time
	// Disabled accounts authenticate with no token.
	Disabled bool
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

// TokenStore changes accounts' tokens and whether they are disabled.
type TokenStore interface {
	SetSecondaryToken(ctx context.Context, sid string, hash, sealed []byte, at time.Time) error
	DeleteSecondaryToken(ctx context.Context, sid string) error
	PromoteSecondaryToken(ctx context.Context, sid string) error
	SetPrimaryToken(ctx context.Context, sid string, hash, sealed []byte) error
	SetAccountDisabled(ctx context.Context, sid string, disabled bool) error
}

// newToken makes an auth token for an account: the token, its hash and its
// sealed copy (nil without a sealer).
func newToken(sid string, sealer Sealer) (token string, hash, sealed []byte) {
	var b [16]byte
	rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	h := sha256.Sum256([]byte(token))
	if sealer != nil {
		sealed = sealer.Seal(TokenAAD(sid), []byte(token))
	}
	return token, h[:], sealed
}

// CreateSecondary gives an account a new secondary auth token (replacing
// one it had) and returns it: both tokens work until it is promoted or
// deleted.
func CreateSecondary(ctx context.Context, st TokenStore, sealer Sealer, sid string, now time.Time) (string, error) {
	token, h, sealed := newToken(sid, sealer)
	if err := st.SetSecondaryToken(ctx, sid, h, sealed, now.UTC()); err != nil {
		return "", err
	}
	return token, nil
}

// Rotate gives an account a new primary token at once (the old one stops
// working) and returns it.
func Rotate(ctx context.Context, st TokenStore, sealer Sealer, sid string) (string, error) {
	token, h, sealed := newToken(sid, sealer)
	if err := st.SetPrimaryToken(ctx, sid, h, sealed); err != nil {
		return "", err
	}
	return token, nil
}

// Authenticator checks account SIDs and tokens against an in-memory copy of
// the accounts table: each account's primary token and, while it has one,
// its secondary token; a disabled account has none. A failed check first
// re-reads the table if it changed (an account may have been created by
// `otpgate accounts create` a moment ago), then checks again. An unknown
// SID and a wrong token take the same path: hash, compare against stored
// or dummy hashes, refresh check, compare. Watch keeps the copy fresh, so a
// token promoted, rotated or deleted, or an account disabled, stops working
// within its interval on every node.
type Authenticator struct {
	store Store

	mu       sync.RWMutex
	accounts map[string]tokens
	version  int64
	loaded   bool
}

type tokens struct{ primary, secondary []byte }

// NewAuthenticator returns an Authenticator reading from st.
func NewAuthenticator(st Store) *Authenticator {
	return &Authenticator{store: st, accounts: map[string]tokens{}}
}

var dummyHash = sha256.Sum256([]byte("otpgate: no such account"))

// Authenticate returns nil if token is sid's auth token.
func (a *Authenticator) Authenticate(ctx context.Context, sid, token string) error {
	h := sha256.Sum256([]byte(token))
	if a.check(sid, h[:]) {
		return nil
	}
	if err := a.Refresh(ctx); err != nil {
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
	t, ok := a.accounts[sid]
	a.mu.RUnlock()
	primary, secondary := t.primary, t.secondary
	if !ok {
		primary = dummyHash[:]
	}
	if secondary == nil {
		secondary = dummyHash[:]
	}
	match := subtle.ConstantTimeCompare(h, primary) | subtle.ConstantTimeCompare(h, secondary)
	return match == 1 && ok
}

// Refresh re-reads the accounts if they changed (at once, after this node
// changed one).
func (a *Authenticator) Refresh(ctx context.Context) error {
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
	m := make(map[string]tokens, len(all))
	for _, acc := range all {
		if !acc.Disabled {
			m[acc.SID] = tokens{acc.TokenHash, acc.SecondaryHash}
		}
	}
	a.mu.Lock()
	a.accounts, a.version, a.loaded = m, v, true
	a.mu.Unlock()
	return nil
}

// Load reads every account now (at start-up), so the first request is not slower.
func (a *Authenticator) Load(ctx context.Context) error { return a.Refresh(ctx) }

// Watcher re-reads the accounts whenever they change, checking every
// interval, from its Start until its Stop; a failure is retried at the next
// check (the copy stays).
func (a *Authenticator) Watcher(every time.Duration) *periodic.Loop {
	return &periodic.Loop{Every: every, Run: a.Refresh}
}
