// Package factor is the domain of TOTP authenticator factors (Twilio
// Verify's Entities, Factors and Challenges): an entity is one user of a
// service (its Identity), a factor is a secret shared with the user's
// authenticator app, a challenge is one code checked against it. It makes
// and seals secrets, computes and checks RFC 6238 codes, and decides what a
// code's outcome is; a store records each outcome atomically (a code
// accepted once, failures counted toward the lockout). It serves no HTTP
// and sends nothing.
package factor

import (
	"context"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/store"
)

// Twilio's codes for factors and challenges.
const (
	CodeFactorUnverified  = 60318 // a challenge of a factor not verified yet (403)
	CodeFactorAttempts    = 60310 // too many wrong codes verifying a factor (429)
	CodeChallengeAttempts = 60308 // too many wrong codes in challenges (429)
)

// SID prefixes, Twilio's.
const (
	PrefixEntity    = "YE"
	PrefixFactor    = "YF"
	PrefixChallenge = "YC"
)

// The lockout: MaxFailures wrong codes (factor verifications and
// challenges together) within LockFor of each other lock the factor until
// LockFor after the last of them; a right code resets the count.
const (
	MaxFailures = 5
	LockFor     = 5 * time.Minute
)

// TypeTOTP is the one factor type otpgate has.
const TypeTOTP = "totp"

// Status is a factor's.
type Status string

const (
	Unverified Status = "unverified"
	Verified   Status = "verified"
)

// ChallengeStatus is a challenge's.
type ChallengeStatus string

const (
	Pending  ChallengeStatus = "pending"
	Approved ChallengeStatus = "approved"
)

// Entity is one user of a service, named by the caller's Identity.
type Entity struct {
	SID, AccountSID, ServiceSID, Identity string
	CreatedAt, UpdatedAt                  time.Time
}

// Factor is a TOTP secret shared with one entity's authenticator app.
type Factor struct {
	SID, AccountSID, ServiceSID, EntitySID, Identity string
	FriendlyName                                     string
	Status                                           Status
	// Sealed is the secret, sealed for the factor's SID (keyring.Seal).
	Sealed []byte
	Config Config
	// LastStep is the time step of the last code accepted (0: none): a
	// code is accepted only for a later step.
	LastStep    int64
	Failures    int
	LastFailure time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LockedUntil is when the factor's lockout ends; zero when it is not
// locked at now.
func (f Factor) LockedUntil(now time.Time) time.Time {
	if f.Failures >= MaxFailures && now.Before(f.LastFailure.Add(LockFor)) {
		return f.LastFailure.Add(LockFor)
	}
	return time.Time{}
}

// Challenge is one code checked against a factor.
type Challenge struct {
	SID, AccountSID, ServiceSID, EntitySID, Identity, FactorSID string
	Status                                                      ChallengeStatus
	CreatedAt, UpdatedAt                                        time.Time
}

// Outcome is what a store made of an attempt.
type Outcome int

const (
	Accepted Outcome = iota + 1 // the code's step was later than the last accepted one
	Refused                     // a wrong or replayed code: one more failure counted
	Locked                      // the factor was locked: nothing counted
)

// Attempt is a code's outcome for a store to record, atomically: if Match
// and Step is later than the factor's LastStep and the factor is not
// locked, the code is accepted (LastStep = Step, failures reset, Verified
// when Verify); else, unless locked, one failure is counted (a failure
// before Since starts the count over). Challenge, if set, is stored with
// the outcome (approved if accepted, pending if refused; not when locked).
type Attempt struct {
	AccountSID, FactorSID string
	Match                 bool
	Step                  int64
	Verify                bool
	Now                   time.Time
	Max                   int       // failures that lock
	Since                 time.Time // failures before it are forgotten
	Challenge             *Challenge
}

// Store keeps entities, factors and challenges. Every method is scoped to
// an account: another account's rows are not found.
type Store interface {
	// CreateEntity inserts e unless the service has an entity of that
	// identity; it returns the one stored, created true if e.
	CreateEntity(ctx context.Context, e Entity) (_ Entity, created bool, err error)
	// CreateFactor stores f and, unless the service has an entity of f's
	// identity, e; f's EntitySID is set to the entity's. It returns the
	// entity.
	CreateFactor(ctx context.Context, e Entity, f Factor) (Entity, error)
	Entity(ctx context.Context, accountSID, serviceSID, identity string) (Entity, error)
	Entities(ctx context.Context, accountSID, serviceSID string) ([]Entity, error)
	// DeleteEntity deletes an entity, its factors and its challenges.
	DeleteEntity(ctx context.Context, accountSID, serviceSID, identity string) error
	Factor(ctx context.Context, accountSID, sid string) (Factor, error)
	// Factors lists an entity's factors, oldest first.
	Factors(ctx context.Context, accountSID, serviceSID, identity string) ([]Factor, error)
	// DeleteFactor deletes a factor and its challenges.
	DeleteFactor(ctx context.Context, accountSID, sid string) error
	// AttemptFactor records a, and returns its outcome and the factor after it.
	AttemptFactor(ctx context.Context, a Attempt) (Outcome, Factor, error)
	Challenge(ctx context.Context, accountSID, sid string) (Challenge, error)
}

// Sealer seals secrets at rest (keyring.Keys).
type Sealer interface {
	Seal(id string, plain []byte) []byte
	Open(id string, sealed []byte) ([]byte, error)
}

// Service is the factors' rules.
type Service struct {
	Store   Store
	Keys    Sealer
	Clock   otpgate.Clock
	Metrics *Metrics
}

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return time.Now().UTC()
	}
	return s.Clock.Now().UTC()
}

func invalid(field, format string, args ...any) error {
	return otpgate.FieldError(field, otpgate.InvalidField, format, args...)
}

var identityRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// ValidIdentity checks an Identity as Twilio does: 8-64 characters of
// A-Z, a-z, 0-9, - and _.
func ValidIdentity(id string) error {
	if !identityRE.MatchString(id) {
		return invalid("identity", " %q: 8-64 characters of A-Z, a-z, 0-9, - and _ (an id of the user, not a phone number or an email address)", id)
	}
	return nil
}

// NewEntity returns an entity of the identity, not stored.
func (s *Service) NewEntity(accountSID, serviceSID, identity string) (Entity, error) {
	if err := ValidIdentity(identity); err != nil {
		return Entity{}, err
	}
	now := s.now()
	return Entity{SID: otpgate.NewSID(PrefixEntity), AccountSID: accountSID, ServiceSID: serviceSID, Identity: identity, CreatedAt: now, UpdatedAt: now}, nil
}

// NewFactor is a factor to make.
type NewFactor struct {
	AccountSID, ServiceSID, Identity, FriendlyName string
	// Secret is the caller's (base32), or "" for one otpgate makes.
	Secret string
	Config Config
}

// Created is a factor just made, with its secret: the one time it is shown.
type Created struct {
	Factor Factor
	Entity Entity
	Secret []byte
}

// Create makes a TOTP factor, unverified, and its entity if it is new.
func (s *Service) Create(ctx context.Context, req NewFactor) (Created, error) {
	e, err := s.NewEntity(req.AccountSID, req.ServiceSID, req.Identity)
	if err != nil {
		return Created{}, err
	}
	name := strings.TrimSpace(req.FriendlyName)
	if name == "" {
		return Created{}, otpgate.FieldError("friendlyName", otpgate.MissingField, ": a name of the factor for the user (shown in the authenticator app)")
	}
	if utf8.RuneCountInString(name) > 64 {
		return Created{}, otpgate.FieldError("friendlyName", otpgate.FieldTooLong, ": at most 64 characters")
	}
	if err := req.Config.Validate(); err != nil {
		return Created{}, err
	}
	secret := make([]byte, SecretBytes)
	if req.Secret != "" {
		if secret, err = DecodeSecret(req.Secret); err != nil {
			return Created{}, err
		}
	} else {
		rand.Read(secret)
	}
	f := Factor{
		SID: otpgate.NewSID(PrefixFactor), AccountSID: req.AccountSID, ServiceSID: req.ServiceSID, Identity: req.Identity,
		FriendlyName: name, Status: Unverified, Config: req.Config, CreatedAt: e.CreatedAt, UpdatedAt: e.CreatedAt,
	}
	f.Sealed = s.Keys.Seal(f.SID, secret)
	if e, err = s.Store.CreateFactor(ctx, e, f); err != nil {
		return Created{}, err
	}
	f.EntitySID = e.SID
	s.Metrics.created()
	return Created{Factor: f, Entity: e, Secret: secret}, nil
}

// code reads a code as users type it: spaces and dashes dropped,
// Arabic-Indic digits read as digits.
func code(payload string, c Config) (string, error) {
	d := phone.NormalizeDigits(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(payload)))
	if d == "" {
		return "", otpgate.FieldError("authPayload", otpgate.MissingField, ": the %d-digit code the authenticator app shows", c.CodeLength)
	}
	if len(d) != c.CodeLength || strings.Trim(d, "0123456789") != "" {
		return "", invalid("authPayload", ": the %d-digit code the authenticator app shows", c.CodeLength)
	}
	return d, nil
}

// Result is what a code did.
type Result struct {
	Factor    Factor
	Challenge Challenge // for a challenge
	Accepted  bool
}

// Verify checks the first codes of an unverified factor (or a code of a
// verified one): a right code verifies it.
func (s *Service) Verify(ctx context.Context, f Factor, payload string) (Result, error) {
	return s.attempt(ctx, f, payload, nil)
}

// Challenge checks a code of a verified factor and records the challenge:
// approved for a right code, pending for a wrong or replayed one.
func (s *Service) Challenge(ctx context.Context, f Factor, payload string) (Result, error) {
	if f.Status != Verified {
		return Result{}, otpgate.Errorf(otpgate.KindForbidden, CodeFactorUnverified,
			"Factor %s is unverified: verify it first (POST its AuthPayload to .../Factors/%s)", f.SID, f.SID)
	}
	now := s.now()
	c := Challenge{SID: otpgate.NewSID(PrefixChallenge), AccountSID: f.AccountSID, ServiceSID: f.ServiceSID, EntitySID: f.EntitySID,
		Identity: f.Identity, FactorSID: f.SID, CreatedAt: now, UpdatedAt: now}
	return s.attempt(ctx, f, payload, &c)
}

func (s *Service) attempt(ctx context.Context, f Factor, payload string, c *Challenge) (Result, error) {
	kind := "verify"
	if c != nil {
		kind = "challenge"
	}
	now := s.now()
	if until := f.LockedUntil(now); !until.IsZero() {
		s.Metrics.checked(kind, "locked")
		return Result{}, locked(f, until, now, c != nil)
	}
	typed, err := code(payload, f.Config)
	if err != nil {
		return Result{}, err
	}
	secret, err := s.Keys.Open(f.SID, f.Sealed)
	if err != nil {
		return Result{}, err
	}
	step, match := f.Config.Match(secret, typed, now)
	out, after, err := s.Store.AttemptFactor(ctx, Attempt{
		AccountSID: f.AccountSID, FactorSID: f.SID, Match: match, Step: step, Verify: c == nil, Now: now,
		Max: MaxFailures, Since: now.Add(-LockFor), Challenge: c,
	})
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "The requested resource /Factors/%s was not found", f.SID)
	} else if err != nil {
		return Result{}, err
	}
	switch out {
	case Locked:
		s.Metrics.checked(kind, "locked")
		return Result{}, locked(after, after.LockedUntil(now), now, c != nil)
	case Accepted:
		s.Metrics.checked(kind, "approved")
	default:
		result := "wrong"
		if match {
			result = "replayed"
		}
		s.Metrics.checked(kind, result)
	}
	r := Result{Factor: after, Accepted: out == Accepted}
	if c != nil {
		r.Challenge = *c
		r.Challenge.Status = Pending
		if r.Accepted {
			r.Challenge.Status = Approved
		}
	}
	return r, nil
}

func locked(f Factor, until, now time.Time, challenge bool) error {
	code, what := CodeFactorAttempts, "verifications"
	if challenge {
		code, what = CodeChallengeAttempts, "challenges"
	}
	if until.IsZero() { // a race: locked by another attempt just now
		until = now.Add(LockFor)
	}
	e := otpgate.Errorf(otpgate.KindTooMany, code,
		"Max verification attempts reached: %d wrong codes for factor %s; its %s are refused until %s (%d minutes after the last wrong code)",
		MaxFailures, f.SID, what, until.UTC().Format(time.RFC3339), int(LockFor.Minutes()))
	e.RetryAfter = until.Sub(now).Round(time.Second)
	if e.RetryAfter < time.Second {
		e.RetryAfter = time.Second
	}
	return e
}
