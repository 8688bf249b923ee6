package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/otpgate/otpgate/internal/factor"
	"github.com/otpgate/otpgate/internal/sqlstore"
	"github.com/otpgate/otpgate/internal/store"
)

// TOTP factors; see factor.Store. The rules (what is a right code, when a
// factor locks) are package factor's; the statements make each outcome one
// compare-and-set, so two requests with one code cannot both be accepted.

var _ factor.Store = (*Store)(nil)

// factorStmts are the writer's statements for factors.
type factorStmts struct {
	entityInsert, entityGet, entityDelete             *sql.Stmt
	factorInsert, factorGet, factorDelete             *sql.Stmt
	factorAccept, factorFail                          *sql.Stmt
	challengeInsert, challengesOfFactor, entityFactor *sql.Stmt
	challengesOfEntity                                *sql.Stmt
	serviceFactors                                    [3]*sql.Stmt
}

func (s *factorStmts) prepareFactors(p func(**sql.Stmt, string)) {
	p(&s.entityInsert, `INSERT INTO totp_entities (`+sqlstore.EntityCols+`) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service_sid, identity) DO NOTHING`)
	p(&s.entityGet, `SELECT `+sqlstore.EntityCols+` FROM totp_entities WHERE account_sid = ? AND service_sid = ? AND identity = ?`)
	p(&s.entityDelete, `DELETE FROM totp_entities WHERE sid = ?`)
	p(&s.entityFactor, `DELETE FROM totp_factors WHERE entity_sid = ?`)
	p(&s.challengesOfEntity, `DELETE FROM totp_challenges WHERE entity_sid = ?`)
	p(&s.factorInsert, `INSERT INTO totp_factors (`+sqlstore.FactorCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.factorGet, `SELECT `+sqlstore.FactorCols+` FROM totp_factors WHERE account_sid = ? AND sid = ?`)
	p(&s.factorDelete, `DELETE FROM totp_factors WHERE account_sid = ? AND sid = ?`)
	p(&s.challengesOfFactor, `DELETE FROM totp_challenges WHERE factor_sid = ?`)
	// Locked: ?6 failures or more, the last after ?7.
	p(&s.factorAccept, `UPDATE totp_factors SET last_step = ?1, failures = 0, last_failure = 0,
			status = CASE WHEN ?2 = 1 THEN 'verified' ELSE status END, updated_at = ?3
		WHERE account_sid = ?4 AND sid = ?5 AND last_step < ?1 AND NOT (failures >= ?6 AND last_failure > ?7)`)
	p(&s.factorFail, `UPDATE totp_factors SET failures = CASE WHEN last_failure > ?2 THEN failures + 1 ELSE 1 END,
			last_failure = ?1, updated_at = ?1
		WHERE account_sid = ?3 AND sid = ?4 AND NOT (failures >= ?5 AND last_failure > ?2)`)
	for i, table := range []string{"totp_challenges", "totp_factors", "totp_entities"} {
		p(&s.serviceFactors[i], `DELETE FROM `+table+` WHERE service_sid = ? AND account_sid = ?`)
	}
	p(&s.challengeInsert, `INSERT INTO totp_challenges (`+sqlstore.ChallengeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
}

// read runs a read in the writer's transaction; no row is
// store.ErrNotFound, not a failure of the op's statements.
func read[T any](t *tx, scan func(sqlstore.Scanner) (T, error), st *sql.Stmt, args ...any) (T, error) {
	v, err := scan(st.QueryRowContext(bg, args...))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.failed = err
	}
	return v, err
}

func (t *tx) InsertEntity(e factor.Entity) error {
	_, err := t.exec(t.st.entityInsert, sqlstore.EntityArgs(e)...)
	return err
}

func (t *tx) EntityIn(accountSID, serviceSID, identity string) (factor.Entity, error) {
	return read(t, sqlstore.ScanEntity, t.st.entityGet, accountSID, serviceSID, identity)
}

func (t *tx) InsertFactor(f factor.Factor) error {
	_, err := t.exec(t.st.factorInsert, sqlstore.FactorArgs(f)...)
	return err
}

func (t *tx) FactorIn(accountSID, sid string) (factor.Factor, error) {
	return read(t, sqlstore.ScanFactor, t.st.factorGet, accountSID, sid)
}

func (t *tx) AcceptFactorCode(a factor.Attempt) (bool, error) {
	verify := 0
	if a.Verify {
		verify = 1
	}
	n, err := t.exec(t.st.factorAccept, a.Step, verify, nanos(a.Now), a.AccountSID, a.FactorSID, a.Max, nanos(a.Since))
	return n == 1, err
}

func (t *tx) FailFactorCode(a factor.Attempt) (bool, error) {
	n, err := t.exec(t.st.factorFail, nanos(a.Now), nanos(a.Since), a.AccountSID, a.FactorSID, a.Max)
	return n == 1, err
}

func (t *tx) InsertChallenge(c factor.Challenge) error {
	_, err := t.exec(t.st.challengeInsert, sqlstore.ChallengeArgs(c)...)
	return err
}

// deleteServiceFactors deletes a service's entities, factors and
// challenges (with the service).
func (t *tx) deleteServiceFactors(accountSID, serviceSID string) error {
	for _, st := range t.st.serviceFactors {
		if _, err := t.exec(st, serviceSID, accountSID); err != nil {
			return err
		}
	}
	return nil
}

// CreateEntity stores e unless the service has an entity of its identity.
func (s *Store) CreateEntity(ctx context.Context, e factor.Entity) (factor.Entity, bool, error) {
	var got factor.Entity
	var created bool
	err := s.submit(ctx, normal, func(t *tx) error {
		var err error
		got, created, err = sqlstore.CreateEntity(t, e)
		return err
	})
	return got, created, err
}

// CreateFactor stores f and, if new, its entity.
func (s *Store) CreateFactor(ctx context.Context, e factor.Entity, f factor.Factor) (factor.Entity, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) (factor.Entity, error) { return sqlstore.CreateFactor(t, e, f) })
}

// AttemptFactor records a code's outcome.
func (s *Store) AttemptFactor(ctx context.Context, a factor.Attempt) (factor.Outcome, factor.Factor, error) {
	var out factor.Outcome
	var f factor.Factor
	err := s.submit(ctx, normal, func(t *tx) error {
		var err error
		out, f, err = sqlstore.AttemptFactor(t, a)
		return err
	})
	return out, f, err
}

// DeleteEntity deletes an entity, its factors and their challenges.
func (s *Store) DeleteEntity(ctx context.Context, accountSID, serviceSID, identity string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		e, err := t.EntityIn(accountSID, serviceSID, identity)
		if err != nil {
			return err
		}
		for _, st := range []*sql.Stmt{t.st.challengesOfEntity, t.st.entityFactor, t.st.entityDelete} {
			if _, err := t.exec(st, e.SID); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteFactor deletes a factor and its challenges.
func (s *Store) DeleteFactor(ctx context.Context, accountSID, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.execOne(t.st.factorDelete, "delete factor", accountSID, sid); err != nil {
			return err
		}
		_, err := t.exec(t.st.challengesOfFactor, sid)
		return err
	})
}

// Entity returns an entity of a service.
func (s *Store) Entity(ctx context.Context, accountSID, serviceSID, identity string) (factor.Entity, error) {
	return sqlstore.ScanEntity(s.queryRow(ctx, `SELECT `+sqlstore.EntityCols+` FROM totp_entities
		WHERE account_sid = ? AND service_sid = ? AND identity = ?`, accountSID, serviceSID, identity))
}

// Entities lists a service's entities, oldest first.
func (s *Store) Entities(ctx context.Context, accountSID, serviceSID string) ([]factor.Entity, error) {
	rows, err := s.query(ctx, `SELECT `+sqlstore.EntityCols+` FROM totp_entities
		WHERE account_sid = ? AND service_sid = ? ORDER BY created_at, sid`, accountSID, serviceSID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanEntity)
}

// Factor returns one of the account's factors.
func (s *Store) Factor(ctx context.Context, accountSID, sid string) (factor.Factor, error) {
	return sqlstore.ScanFactor(s.queryRow(ctx, `SELECT `+sqlstore.FactorCols+` FROM totp_factors WHERE account_sid = ? AND sid = ?`, accountSID, sid))
}

// Factors lists an entity's factors, oldest first.
func (s *Store) Factors(ctx context.Context, accountSID, serviceSID, identity string) ([]factor.Factor, error) {
	rows, err := s.query(ctx, `SELECT `+sqlstore.FactorCols+` FROM totp_factors
		WHERE account_sid = ? AND service_sid = ? AND identity = ? ORDER BY created_at, sid`, accountSID, serviceSID, identity)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanFactor)
}

// Challenge returns one of the account's challenges.
func (s *Store) Challenge(ctx context.Context, accountSID, sid string) (factor.Challenge, error) {
	return sqlstore.ScanChallenge(s.queryRow(ctx, `SELECT `+sqlstore.ChallengeCols+` FROM totp_challenges WHERE account_sid = ? AND sid = ?`, accountSID, sid))
}
