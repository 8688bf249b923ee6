// Package sqlstore is what the two SQL stores (sqlite, postgres) share that
// is not dialect: the columns they read, the scanning of a row into a domain
// type, the encoding of verification codes, the paging of a listing, and the
// kinds of op their group-commit writers take. It holds no SQL statement and
// does no I/O of its own: each store keeps its own SQL and its own
// connections, and hands rows here to be read.
package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// Scanner is one row: a *sql.Row or *sql.Rows, a pgx.Row or pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Rows are the rows of a query (*sql.Rows, pgx.Rows); the caller closes them.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect reads every row with scan, in order; nil when there are none.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// NotFound is store.ErrNotFound when err says a query found no row
// (sql.ErrNoRows; pgx.ErrNoRows is one too), else err.
func NotFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// Nanos is t as Unix nanoseconds, 0 for the zero time: how both stores keep
// a time.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos is the time (in UTC) Nanos made n from.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// The columns ScanVerification, ScanMessage, ScanService,
// ScanOperatorToken and ScanAuditEntry read, in their order.
const (
	VerificationCols  = `sid, account_sid, service_sid, to_number, from_addr, channel, status, codes, send_attempts, check_attempts, created_at, updated_at, expires_at`
	MessageCols       = `sid, account_sid, verification_sid, direction, from_addr, to_number, body, status, encoding, segments, connector, provider_id, error_code, error_message, created_at, updated_at, sent_at, status_callback, channel, subject`
	ServiceCols       = `sid, account_sid, name, code_length, ttl_ns, created_at, events_url, countries, texts, fallback_channel, fallback_after_ns`
	FallbackCols      = `verification_sid, account_sid, message_sid, address, locale, due_at, created_at`
	OperatorTokenCols = `id, name, account_sid, token_hash, created_at, revoked_at`
	AuditCols         = `id, at, account_sid, actor, actor_name, kind, action, target, before, after, outcome, detail, request_id`
)

// ScanService reads a row of ServiceCols; ErrNotFound when there is none.
func ScanService(row Scanner) (verification.Service, error) {
	var s verification.Service
	var ttl, created, fallbackAfter int64
	var texts string
	if err := row.Scan(&s.SID, &s.AccountSID, &s.Name, &s.CodeLength, &ttl, &created, &s.EventsURL, &s.Countries, &texts,
		&s.FallbackChannel, &fallbackAfter); err != nil {
		return verification.Service{}, NotFound(err)
	}
	var err error
	if s.Texts, err = verification.DecodeTexts(texts); err != nil {
		return verification.Service{}, fmt.Errorf("service %s: its texts: %w", s.SID, err)
	}
	s.TTL, s.CreatedAt, s.FallbackAfter = time.Duration(ttl), FromNanos(created), time.Duration(fallbackAfter)
	return s, nil
}

// ScanFallback reads a row of FallbackCols and the status of its SMS
// ("" when the message is gone); ErrNotFound when there is none.
func ScanFallback(row Scanner) (verification.Fallback, error) {
	var f verification.Fallback
	var due, created int64
	var status *string
	if err := row.Scan(&f.VerificationSID, &f.AccountSID, &f.MessageSID, &f.Address, &f.Locale, &due, &created, &status); err != nil {
		return verification.Fallback{}, NotFound(err)
	}
	f.DueAt, f.CreatedAt = FromNanos(due), FromNanos(created)
	if status != nil {
		f.SMSStatus = *status
	}
	return f, nil
}

// ScanVerification reads a row of VerificationCols; ErrNotFound when there
// is none.
func ScanVerification(row Scanner) (verification.Verification, error) {
	var v verification.Verification
	var codes []byte
	var status string
	var created, updated, expires int64
	err := row.Scan(&v.SID, &v.AccountSID, &v.ServiceSID, &v.To, &v.From, &v.Channel, &status, &codes,
		&v.SendAttempts, &v.CheckAttempts, &created, &updated, &expires)
	if err != nil {
		return verification.Verification{}, NotFound(err)
	}
	v.Status = verification.Status(status)
	v.CreatedAt, v.UpdatedAt, v.ExpiresAt = FromNanos(created), FromNanos(updated), FromNanos(expires)
	v.Codes, err = DecodeCodes(codes)
	return v, err
}

// ScanMessage reads a row of MessageCols; ErrNotFound when there is none.
func ScanMessage(row Scanner) (message.Message, error) {
	var m message.Message
	var direction, status string
	var created, updated, sent int64
	err := row.Scan(&m.SID, &m.AccountSID, &m.VerificationSID, &direction, &m.From, &m.To, &m.Body, &status,
		&m.Encoding, &m.Segments, &m.Connector, &m.ProviderID, &m.ErrorCode, &m.ErrorMessage, &created, &updated, &sent, &m.StatusCallback, &m.Channel, &m.Subject)
	if err != nil {
		return message.Message{}, NotFound(err)
	}
	m.Direction, m.Status = message.Direction(direction), message.Status(status)
	m.CreatedAt, m.UpdatedAt, m.SentAt = FromNanos(created), FromNanos(updated), FromNanos(sent)
	return m, nil
}

// ScanOperatorToken reads a row of OperatorTokenCols; ErrNotFound when
// there is none.
func ScanOperatorToken(row Scanner) (operator.Token, error) {
	var t operator.Token
	var created, revoked int64
	if err := row.Scan(&t.ID, &t.Name, &t.AccountSID, &t.Hash, &created, &revoked); err != nil {
		return operator.Token{}, NotFound(err)
	}
	t.CreatedAt, t.RevokedAt = FromNanos(created), FromNanos(revoked)
	return t, nil
}

// ScanAuditEntry reads a row of AuditCols.
func ScanAuditEntry(row Scanner) (audit.Row, error) {
	var e audit.Row
	var at int64
	if err := row.Scan(&e.ID, &at, &e.AccountSID, &e.Actor, &e.ActorName, &e.Kind, &e.Action,
		&e.Target, &e.Before, &e.After, &e.Outcome, &e.Detail, &e.RequestID); err != nil {
		return audit.Row{}, err
	}
	e.At = FromNanos(at)
	return e, nil
}

// AccountCols are the columns ScanAccount reads.
const AccountCols = `sid, name, token_hash, created_at, secondary_hash, secondary_created_at, disabled, policy`

// ScanAccount reads a row of AccountCols.
func ScanAccount(row Scanner) (account.Account, error) {
	var a account.Account
	var created, secondary int64
	var pol string
	if err := row.Scan(&a.SID, &a.Name, &a.TokenHash, &created, &a.SecondaryHash, &secondary, &a.Disabled, &pol); err != nil {
		return account.Account{}, err
	}
	a.CreatedAt = FromNanos(created)
	if len(a.SecondaryHash) > 0 {
		a.SecondaryCreatedAt = FromNanos(secondary)
	} else {
		a.SecondaryHash = nil
	}
	var err error
	if a.Policy, err = policy.Decode(pol); err != nil {
		return account.Account{}, fmt.Errorf("account %s: %w", a.SID, err)
	}
	return a, nil
}

// SandboxCols are the columns ScanSandboxEntry reads.
const SandboxCols = `sid, account_sid, from_addr, to_number, body, segments, encoding, created_at, channel, subject`

// ScanSandboxEntry reads a row of SandboxCols.
func ScanSandboxEntry(row Scanner) (message.SandboxEntry, error) {
	var m message.SandboxEntry
	var created int64
	if err := row.Scan(&m.SID, &m.AccountSID, &m.From, &m.To, &m.Body, &m.Segments, &m.Encoding, &created, &m.Channel, &m.Subject); err != nil {
		return message.SandboxEntry{}, err
	}
	m.CreatedAt = FromNanos(created)
	return m, nil
}

// ScanString reads a row of one text column.
func ScanString(row Scanner) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

// AccountDetailCols are the columns ScanAccountDetail reads: an account as
// one is read alone, with where it chose to send and its inbound URL.
const AccountDetailCols = `sid, name, token_hash, created_at, sms_url, countries, policy, disabled`

// ScanAccountDetail reads a row of AccountDetailCols; ErrNotFound when
// there is none.
func ScanAccountDetail(row Scanner) (account.Account, error) {
	var a account.Account
	var created int64
	var pol string
	err := row.Scan(&a.SID, &a.Name, &a.TokenHash, &created, &a.SMSURL, &a.Countries, &pol, &a.Disabled)
	if err != nil {
		return account.Account{}, NotFound(err)
	}
	a.CreatedAt = FromNanos(created)
	if a.Policy, err = policy.Decode(pol); err != nil {
		return account.Account{}, fmt.Errorf("account %s: %w", a.SID, err)
	}
	return a, nil
}

// GuardBlockCols are the columns ScanGuardBlock reads.
const GuardBlockCols = `account_sid, key, level, since, until, lifted, sends, approvals, window_ns, reason`

// ScanGuardBlock reads a row of GuardBlockCols; ErrNotFound when there is
// none.
func ScanGuardBlock(row Scanner) (guardstate.Block, error) {
	var b guardstate.Block
	var level, from, until, sends, approvals, window int64
	if err := row.Scan(&b.AccountSID, &b.Key, &level, &from, &until, &b.Lifted, &sends, &approvals, &window, &b.Reason); err != nil {
		return guardstate.Block{}, NotFound(err)
	}
	b.Level, b.Sends, b.Approvals = int(level), int(sends), int(approvals)
	b.Since, b.Until, b.Window = FromNanos(from), FromNanos(until), time.Duration(window)
	return b, nil
}
