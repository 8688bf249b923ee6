// Package backend declares, once, what a store backend (sqlite, postgres)
// offers otpgate: the union of the interfaces its parts declare for a store,
// and what the command line and start-up use. cmd/otpgate opens one, and
// storetest holds each backend to it. It declares no types of its own and
// does no I/O.
package backend

import (
	"context"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api/inbox"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/factor"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

// Store is everything otpgate keeps: the union of what each of its parts
// declares it needs, and what the command line and start-up use.
type Store interface {
	pipeline.Store
	verify.Store
	verify.ServiceStore
	messaging.Store
	dispatch.Store
	inbound.Store
	webhook.Store
	sandbox.Store
	inbox.Store
	account.Store
	// SetAccountSMSURL sets where the account's inbound SMS are POSTed.
	SetAccountSMSURL(ctx context.Context, sid, url string) error
	// SetAccountCountries sets where the account chose to send, within
	// its ceiling.
	SetAccountCountries(ctx context.Context, sid, countries string) error
	// SetAccountPolicy sets the ceilings the operator gave an account.
	SetAccountPolicy(ctx context.Context, sid string, p policy.Policy) error
	guard.LimitStore
	guard.PumpingStore
	guard.BudgetStore
	console.Store
	// TOTP factors (Verify v2's Entities, Factors and Challenges).
	factor.Store
	// Services returns an account's services, oldest first.
	Services(ctx context.Context, accountSID string) ([]verification.Service, error)
	// Token rotation and disabling (account.TokenStore).
	SetSecondaryToken(ctx context.Context, sid string, hash, sealed []byte, at time.Time) error
	DeleteSecondaryToken(ctx context.Context, sid string) error
	PromoteSecondaryToken(ctx context.Context, sid string) error
	SetPrimaryToken(ctx context.Context, sid string, hash, sealed []byte) error
	SetAccountDisabled(ctx context.Context, sid string, disabled bool) error
	// ForgetSandbox deletes sandbox inbox entries made before before.
	ForgetSandbox(ctx context.Context, before time.Time) (int, error)
	// ForgetOrphanReceipts deletes the receipts received before before
	// that no part was found for.
	ForgetOrphanReceipts(ctx context.Context, before time.Time) (int, error)
	// VerificationBySID returns one of an account's verifications.
	VerificationBySID(ctx context.Context, accountSID, sid string) (verification.Verification, error)
	// ReleaseLeases makes the messages and callbacks this node claimed due
	// now: at start-up, its last run's claims (on PostgreSQL, no other
	// node's; on SQLite every claim, the data directory being locked).
	ReleaseLeases(ctx context.Context) (int, error)
	// Ping reports whether the database answers (/readyz).
	Ping(ctx context.Context) error
	Close() error
	// The operator's tokens, beyond what console.Store reads (otpgate
	// console-token).
	InsertOperatorToken(ctx context.Context, t operator.Token) error
	OperatorTokens(ctx context.Context) ([]operator.Token, error)
	RevokeOperatorToken(ctx context.Context, id string, at time.Time) error
	// The audit log: InsertAudit records an entry, AuditLog lists them
	// newest first, ForgetAudit deletes those older than before.
	InsertAudit(ctx context.Context, e audit.Row) error
	AuditLog(ctx context.Context, f audit.Filter) ([]audit.Row, error)
	ForgetAudit(ctx context.Context, before time.Time) (int, error)
	// The fingerprint of the server secret the store was set up with
	// (secretStore, secret.go).
	SecretFingerprint(ctx context.Context) ([]byte, error)
	SetSecretFingerprintIfAbsent(ctx context.Context, fp []byte) ([]byte, error)
	// InFirstStart runs fn, which makes the first account of an empty
	// database, while no other node starting at the same moment runs its
	// own (PostgreSQL: an advisory lock; SQLite: one process holds a data
	// directory).
	InFirstStart(ctx context.Context, fn func(context.Context) error) error
}
