package postgres

import (
	"context"
	"strings"

	"github.com/otpgate/otpgate/internal/factor"
	"github.com/otpgate/otpgate/internal/sqlstore"
)

// TOTP factors; see factor.Store. The rules are package factor's; each
// outcome is one UPDATE whose WHERE is the compare-and-set (PostgreSQL
// re-reads a row another transaction changed before it updates it), so
// two nodes given one code cannot both accept it.

var _ factor.Store = (*Store)(nil)

func (t *tx) InsertEntity(e factor.Entity) error {
	_, err := t.exec(`INSERT INTO totp_entities (`+sqlstore.EntityCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (service_sid, identity) DO NOTHING`, sqlstore.EntityArgs(e)...)
	return err
}

func (t *tx) EntityIn(accountSID, serviceSID, identity string) (factor.Entity, error) {
	return sqlstore.ScanEntity(t.queryRow(`SELECT `+sqlstore.EntityCols+` FROM totp_entities
		WHERE account_sid = $1 AND service_sid = $2 AND identity = $3`, accountSID, serviceSID, identity))
}

func (t *tx) InsertFactor(f factor.Factor) error {
	_, err := t.exec(`INSERT INTO totp_factors (`+sqlstore.FactorCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`, sqlstore.FactorArgs(f)...)
	return err
}

func (t *tx) FactorIn(accountSID, sid string) (factor.Factor, error) {
	return sqlstore.ScanFactor(t.queryRow(`SELECT `+sqlstore.FactorCols+` FROM totp_factors WHERE account_sid = $1 AND sid = $2`, accountSID, sid))
}

// Locked: $6 failures or more, the last after $7.
func (t *tx) AcceptFactorCode(a factor.Attempt) (bool, error) {
	n, err := t.exec(`UPDATE totp_factors SET last_step = $1, failures = 0, last_failure = 0,
			status = CASE WHEN $2 THEN 'verified' ELSE status END, updated_at = $3
		WHERE account_sid = $4 AND sid = $5 AND last_step < $1 AND NOT (failures >= $6 AND last_failure > $7)`,
		a.Step, a.Verify, nanos(a.Now), a.AccountSID, a.FactorSID, a.Max, nanos(a.Since))
	return n == 1, err
}

func (t *tx) FailFactorCode(a factor.Attempt) (bool, error) {
	n, err := t.exec(`UPDATE totp_factors SET failures = CASE WHEN last_failure > $2 THEN failures + 1 ELSE 1 END,
			last_failure = $1, updated_at = $1
		WHERE account_sid = $3 AND sid = $4 AND NOT (failures >= $5 AND last_failure > $2)`,
		nanos(a.Now), nanos(a.Since), a.AccountSID, a.FactorSID, a.Max)
	return n == 1, err
}

func (t *tx) InsertChallenge(c factor.Challenge) error {
	_, err := t.exec(`INSERT INTO totp_challenges (`+sqlstore.ChallengeCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		sqlstore.ChallengeArgs(c)...)
	return err
}

// deleteServiceFactors deletes a service's entities, factors and
// challenges (with the service).
func (t *tx) deleteServiceFactors(accountSID, serviceSID string) error {
	for _, table := range []string{"totp_challenges", "totp_factors", "totp_entities"} {
		if _, err := t.exec(`DELETE FROM `+table+` WHERE service_sid = $1 AND account_sid = $2`, serviceSID, accountSID); err != nil {
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
	return got, created, unavailable(err)
}

// CreateFactor stores f and, if new, its entity.
func (s *Store) CreateFactor(ctx context.Context, e factor.Entity, f factor.Factor) (factor.Entity, error) {
	got, err := sqlstore.One(ctx, s.submit, normal, func(t *tx) (factor.Entity, error) { return sqlstore.CreateFactor(t, e, f) })
	return got, unavailable(err)
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
	return out, f, unavailable(err)
}

// DeleteEntity deletes an entity, its factors and their challenges.
func (s *Store) DeleteEntity(ctx context.Context, accountSID, serviceSID, identity string) error {
	return unavailable(s.submit(ctx, normal, func(t *tx) error {
		e, err := t.EntityIn(accountSID, serviceSID, identity)
		if err != nil {
			return sqlstore.NotFound(err)
		}
		for _, q := range []string{`DELETE FROM totp_challenges WHERE entity_sid = $1`, `DELETE FROM totp_factors WHERE entity_sid = $1`,
			`DELETE FROM totp_entities WHERE sid = $1`} {
			if _, err := t.exec(q, e.SID); err != nil {
				return err
			}
		}
		return nil
	}))
}

// DeleteFactor deletes a factor and its challenges.
func (s *Store) DeleteFactor(ctx context.Context, accountSID, sid string) error {
	return unavailable(s.submit(ctx, normal, func(t *tx) error {
		if err := t.execOne("delete factor", `DELETE FROM totp_factors WHERE account_sid = $1 AND sid = $2`, accountSID, sid); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM totp_challenges WHERE factor_sid = $1`, sid)
		return err
	}))
}

// Entity returns an entity of a service.
func (s *Store) Entity(ctx context.Context, accountSID, serviceSID, identity string) (factor.Entity, error) {
	return sqlstore.ScanEntity(readRow{s.pool.QueryRow(ctx, `SELECT `+sqlstore.EntityCols+` FROM totp_entities
		WHERE account_sid = $1 AND service_sid = $2 AND identity = $3`, accountSID, serviceSID, identity)})
}

// Entities lists a service's entities, oldest first.
func (s *Store) Entities(ctx context.Context, accountSID, serviceSID string) ([]factor.Entity, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.EntityCols+` FROM totp_entities
		WHERE account_sid = $1 AND service_sid = $2 ORDER BY created_at, sid`, accountSID, serviceSID)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanEntity)
	return out, unavailable(err)
}

// Factor returns one of the account's factors.
func (s *Store) Factor(ctx context.Context, accountSID, sid string) (factor.Factor, error) {
	return sqlstore.ScanFactor(readRow{s.pool.QueryRow(ctx, `SELECT `+sqlstore.FactorCols+` FROM totp_factors
		WHERE account_sid = $1 AND sid = $2`, accountSID, sid)})
}

// Factors lists an entity's factors, oldest first.
func (s *Store) Factors(ctx context.Context, accountSID, serviceSID, identity string) ([]factor.Factor, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.FactorCols+` FROM totp_factors
		WHERE account_sid = $1 AND service_sid = $2 AND identity = $3 ORDER BY created_at, sid`, accountSID, serviceSID, identity)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanFactor)
	return out, unavailable(err)
}

// Challenge returns one of the account's challenges.
func (s *Store) Challenge(ctx context.Context, accountSID, sid string) (factor.Challenge, error) {
	return sqlstore.ScanChallenge(readRow{s.pool.QueryRow(ctx, `SELECT `+sqlstore.ChallengeCols+` FROM totp_challenges
		WHERE account_sid = $1 AND sid = $2`, accountSID, sid)})
}

// columnsOf splits a column list ("a, b,\n c") into its names.
func columnsOf(cols string) []string {
	return strings.FieldsFunc(cols, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}
