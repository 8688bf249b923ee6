package sqlstore

import "github.com/otpgate/otpgate/internal/factor"

// TOTP factors (package factor): the columns both stores read and write,
// in the order of the scans and of the values Args give.
const (
	EntityCols = `sid, account_sid, service_sid, identity, created_at, updated_at`
	FactorCols = `sid, account_sid, service_sid, entity_sid, identity, friendly_name, status, secret_sealed,
		time_step, skew, code_length, alg, last_step, failures, last_failure, created_at, updated_at`
	ChallengeCols = `sid, account_sid, service_sid, entity_sid, identity, factor_sid, status, created_at, updated_at`
)

// EntityArgs are e's values in EntityCols' order.
func EntityArgs(e factor.Entity) []any {
	return []any{e.SID, e.AccountSID, e.ServiceSID, e.Identity, Nanos(e.CreatedAt), Nanos(e.UpdatedAt)}
}

// FactorArgs are f's values in FactorCols' order.
func FactorArgs(f factor.Factor) []any {
	return []any{f.SID, f.AccountSID, f.ServiceSID, f.EntitySID, f.Identity, f.FriendlyName, string(f.Status), f.Sealed,
		f.Config.TimeStep, f.Config.Skew, f.Config.CodeLength, string(f.Config.Alg), f.LastStep, f.Failures, Nanos(f.LastFailure),
		Nanos(f.CreatedAt), Nanos(f.UpdatedAt)}
}

// ChallengeArgs are c's values in ChallengeCols' order.
func ChallengeArgs(c factor.Challenge) []any {
	return []any{c.SID, c.AccountSID, c.ServiceSID, c.EntitySID, c.Identity, c.FactorSID, string(c.Status), Nanos(c.CreatedAt), Nanos(c.UpdatedAt)}
}

// ScanEntity reads EntityCols.
func ScanEntity(r Scanner) (factor.Entity, error) {
	var e factor.Entity
	var created, updated int64
	err := r.Scan(&e.SID, &e.AccountSID, &e.ServiceSID, &e.Identity, &created, &updated)
	e.CreatedAt, e.UpdatedAt = FromNanos(created), FromNanos(updated)
	return e, NotFound(err)
}

// ScanFactor reads FactorCols.
func ScanFactor(r Scanner) (factor.Factor, error) {
	var f factor.Factor
	var status, alg string
	var lastFailure, created, updated int64
	err := r.Scan(&f.SID, &f.AccountSID, &f.ServiceSID, &f.EntitySID, &f.Identity, &f.FriendlyName, &status, &f.Sealed,
		&f.Config.TimeStep, &f.Config.Skew, &f.Config.CodeLength, &alg, &f.LastStep, &f.Failures, &lastFailure, &created, &updated)
	f.Status, f.Config.Alg = factor.Status(status), factor.Alg(alg)
	f.LastFailure, f.CreatedAt, f.UpdatedAt = FromNanos(lastFailure), FromNanos(created), FromNanos(updated)
	return f, NotFound(err)
}

// ScanChallenge reads ChallengeCols.
func ScanChallenge(r Scanner) (factor.Challenge, error) {
	var c factor.Challenge
	var status string
	var created, updated int64
	err := r.Scan(&c.SID, &c.AccountSID, &c.ServiceSID, &c.EntitySID, &c.Identity, &c.FactorSID, &status, &created, &updated)
	c.Status, c.CreatedAt, c.UpdatedAt = factor.ChallengeStatus(status), FromNanos(created), FromNanos(updated)
	return c, NotFound(err)
}

// FactorTx is what a store's transaction does for the factor ops below;
// each store writes its own SQL.
type FactorTx interface {
	// InsertEntity inserts e unless the service has an entity of its
	// identity.
	InsertEntity(e factor.Entity) error
	// EntityIn reads an entity in the transaction (store.ErrNotFound).
	EntityIn(accountSID, serviceSID, identity string) (factor.Entity, error)
	InsertFactor(f factor.Factor) error
	// FactorIn reads a factor in the transaction (store.ErrNotFound).
	FactorIn(accountSID, sid string) (factor.Factor, error)
	// AcceptFactorCode sets a's step as the factor's last if it is later
	// and the factor not locked; it reports whether it did.
	AcceptFactorCode(a factor.Attempt) (bool, error)
	// FailFactorCode counts a failure unless the factor is locked; it
	// reports whether it did.
	FailFactorCode(a factor.Attempt) (bool, error)
	InsertChallenge(c factor.Challenge) error
}

// CreateEntity is factor.Store's CreateEntity in t.
func CreateEntity(t FactorTx, e factor.Entity) (factor.Entity, bool, error) {
	if err := t.InsertEntity(e); err != nil {
		return factor.Entity{}, false, err
	}
	got, err := t.EntityIn(e.AccountSID, e.ServiceSID, e.Identity)
	return got, err == nil && got.SID == e.SID, err
}

// CreateFactor is factor.Store's CreateFactor in t.
func CreateFactor(t FactorTx, e factor.Entity, f factor.Factor) (factor.Entity, error) {
	got, _, err := CreateEntity(t, e)
	if err != nil {
		return factor.Entity{}, err
	}
	f.EntitySID = got.SID
	return got, t.InsertFactor(f)
}

// AttemptFactor is factor.Store's AttemptFactor in t.
func AttemptFactor(t FactorTx, a factor.Attempt) (factor.Outcome, factor.Factor, error) {
	var out factor.Outcome
	if a.Match {
		ok, err := t.AcceptFactorCode(a)
		if err != nil {
			return 0, factor.Factor{}, err
		}
		if ok {
			out = factor.Accepted
		}
	}
	if out == 0 {
		ok, err := t.FailFactorCode(a)
		if err != nil {
			return 0, factor.Factor{}, err
		}
		out = factor.Locked
		if ok {
			out = factor.Refused
		}
	}
	f, err := t.FactorIn(a.AccountSID, a.FactorSID)
	if err != nil {
		return 0, factor.Factor{}, err
	}
	if c := a.Challenge; c != nil && out != factor.Locked {
		rec := *c
		rec.Status = factor.Pending
		if out == factor.Accepted {
			rec.Status = factor.Approved
		}
		if err := t.InsertChallenge(rec); err != nil {
			return 0, factor.Factor{}, err
		}
	}
	return out, f, nil
}
