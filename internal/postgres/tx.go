package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// tx is what a committer hands to each op: the group's transaction.
type tx struct {
	tx        pgx.Tx
	node      string
	safe      bool
	wrote     bool  // the op changed a row
	failed    error // a statement failed: the transaction is aborted
	callbacks int   // callbacks the op stored
}

func (t *tx) reset(ptx pgx.Tx, safe bool) {
	t.tx, t.safe, t.wrote, t.failed, t.callbacks = ptx, safe, false, nil, 0
}

var bg = context.Background()

// exec runs a write and returns how many rows it changed.
func (t *tx) exec(sql string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(bg, sql, args...)
	if err != nil {
		t.failed = err
		return 0, err
	}
	n := tag.RowsAffected()
	if n > 0 {
		t.wrote = true
	}
	return n, nil
}

// execOne runs a write that must change exactly one row; ErrNotFound if it
// changed none.
func (t *tx) execOne(what, sql string, args ...any) error {
	n, err := t.exec(sql, args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// count runs a statement that writes and returns one count (of the rows it
// wrote).
func (t *tx) count(sql string, args ...any) (int64, error) {
	var n int64
	if err := t.tx.QueryRow(bg, sql, args...).Scan(&n); err != nil {
		t.failed = err
		return 0, err
	}
	if n > 0 {
		t.wrote = true
	}
	return n, nil
}

// queryRow runs a statement that reads (or writes and returns) one row.
func (t *tx) queryRow(sql string, args ...any) pgx.Row {
	return rowRecorder{t.tx.QueryRow(bg, sql, args...), t}
}

// rowRecorder notes a failed statement (the transaction is then aborted);
// no row is not a failure.
type rowRecorder struct {
	row pgx.Row
	t   *tx
}

func (r rowRecorder) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		r.t.failed = err
	}
	return err
}

// query runs a statement that returns rows.
func (t *tx) query(sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.tx.Query(bg, sql, args...)
	if err != nil {
		t.failed = err
	}
	return rows, err
}

// lock takes a transaction-scoped advisory lock on each key, in order: two
// nodes touching the same verification or SMSC id take turns.
func (t *tx) lock(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := t.tx.Exec(bg, lockSQL, lockIDs(keys))
	if err != nil {
		t.failed = err
	}
	return err
}

// lockSQL takes the advisory locks of lockIDs, in order, in one statement.
const lockSQL = `SELECT pg_advisory_xact_lock(id) FROM (SELECT id FROM unnest($1::bigint[]) AS u(id) ORDER BY id) AS o`

// lockIDs are the advisory lock ids of keys, sorted, once each.
func lockIDs(keys []string) []int64 {
	ids := make([]int64, len(keys))
	for i, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		ids[i] = int64(h.Sum64())
	}
	return sortedUnique(ids)
}

func sortedUnique(ids []int64) []int64 {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

const verificationCols = `sid, account_sid, service_sid, to_number, from_addr, channel, status, codes, send_attempts, check_attempts, created_at, updated_at, expires_at`

const messageCols = `sid, account_sid, verification_sid, direction, from_addr, to_number, body, status, encoding, segments, connector, provider_id, error_code, error_message, created_at, updated_at, sent_at, status_callback`

const serviceCols = `sid, account_sid, name, code_length, ttl_ns, created_at, events_url, countries, texts`

type scanner interface{ Scan(dest ...any) error }

func scanService(row scanner) (verification.Service, error) {
	var s verification.Service
	var ttl, created int64
	var texts string
	if err := row.Scan(&s.SID, &s.AccountSID, &s.Name, &s.CodeLength, &ttl, &created, &s.EventsURL, &s.Countries, &texts); err != nil {
		return verification.Service{}, notFound(err)
	}
	var err error
	if s.Texts, err = verification.DecodeTexts(texts); err != nil {
		return verification.Service{}, fmt.Errorf("service %s: its texts: %w", s.SID, err)
	}
	s.TTL, s.CreatedAt = durationOf(ttl), fromNanos(created)
	return s, nil
}

func scanVerification(row scanner) (verification.Verification, error) {
	var v verification.Verification
	var codes []byte
	var status string
	var created, updated, expires int64
	err := row.Scan(&v.SID, &v.AccountSID, &v.ServiceSID, &v.To, &v.From, &v.Channel, &status, &codes,
		&v.SendAttempts, &v.CheckAttempts, &created, &updated, &expires)
	if err != nil {
		return verification.Verification{}, notFound(err)
	}
	v.Status = verification.Status(status)
	v.CreatedAt, v.UpdatedAt, v.ExpiresAt = fromNanos(created), fromNanos(updated), fromNanos(expires)
	v.Codes, err = decodeCodes(codes)
	return v, err
}

func scanMessage(row scanner) (message.Message, error) {
	var m message.Message
	var direction, status string
	var created, updated, sent int64
	err := row.Scan(&m.SID, &m.AccountSID, &m.VerificationSID, &direction, &m.From, &m.To, &m.Body, &status,
		&m.Encoding, &m.Segments, &m.Connector, &m.ProviderID, &m.ErrorCode, &m.ErrorMessage, &created, &updated, &sent, &m.StatusCallback)
	if err != nil {
		return message.Message{}, notFound(err)
	}
	m.Direction, m.Status = message.Direction(direction), message.Status(status)
	m.CreatedAt, m.UpdatedAt, m.SentAt = fromNanos(created), fromNanos(updated), fromNanos(sent)
	return m, nil
}

func (t *tx) insertCallbacks(cbs []callback.Callback) error {
	for _, c := range cbs {
		if _, err := t.exec(`INSERT INTO callbacks (sid, message_sid, account_sid, url, params, attempts, next_attempt_at, created_at, content_type)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.SID, c.Subject, c.AccountSID, c.URL, c.Body, c.Attempts, nanos(c.NextAttemptAt), nanos(c.CreatedAt), string(c.ContentType)); err != nil {
			return err
		}
		t.callbacks++
	}
	return nil
}

// statuses are statuses as strings, for = ANY($n).
func statuses[S ~string](ss []S) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// Codes are kept as a blob of 40-byte entries, as on SQLite: expiry (8
// bytes, big-endian Unix nanoseconds) then the 32-byte HMAC.
const codeEntryLen = 40

func encodeCodes(codes []verification.Code) []byte {
	b := make([]byte, 0, len(codes)*codeEntryLen)
	for _, c := range codes {
		b = binary.BigEndian.AppendUint64(b, uint64(nanos(c.ExpiresAt)))
		var h [32]byte
		copy(h[:], c.Hash)
		b = append(b, h[:]...)
	}
	return b
}

func decodeCodes(b []byte) ([]verification.Code, error) {
	if len(b)%codeEntryLen != 0 {
		return nil, fmt.Errorf("postgres: corrupt codes column (%d bytes)", len(b))
	}
	codes := make([]verification.Code, 0, len(b)/codeEntryLen)
	for ; len(b) > 0; b = b[codeEntryLen:] {
		codes = append(codes, verification.Code{
			ExpiresAt: fromNanos(int64(binary.BigEndian.Uint64(b[:8]))),
			Hash:      append([]byte(nil), b[8:codeEntryLen]...),
		})
	}
	return codes, nil
}

func keyOf(k verification.Key) string {
	return strings.Join([]string{"verification", k.AccountSID, k.ServiceSID, k.To}, "\x00")
}

func partKey(connector, smscID string) string { return "part\x00" + connector + "\x00" + smscID }
