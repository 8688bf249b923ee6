// Package verify runs phone verification: it sends codes (through the send
// pipeline, like every SMS) and checks the codes users type, under the rules
// of package verification: a code per send, every code valid until its own
// expiry, at most verification.MaxSends codes and verification.MaxChecks
// checks per verification. The store makes each step atomic; this package
// decides. Services owns the verification services' settings: every path
// that makes, changes or deletes one goes through it.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// Defaults of a code SMS.
const (
	DefaultTemplate = "Your {friendly_name} verification code is: {code}" // the built-in English text
	Placeholder     = "{code}"
	MaxServiceName  = 64
)

// Store keeps verifications.
type Store interface {
	// LatestVerification returns the newest verification of key, whatever
	// its status: the latest CreatedAt, and of equal ones the greatest SID.
	LatestVerification(ctx context.Context, key verification.Key) (verification.Verification, error)
	// CountCheck counts one check against the newest verification of key,
	// atomically with the limit: if it is live at now, pending and has fewer
	// than max checks, it adds one, calls judge with the verification as it
	// is then, and stores the status judge returns and the callbacks with
	// it; counted is true. Otherwise it changes nothing and returns the
	// verification as it is, counted false; ErrNotFound when there is none
	// or it is not live. judge must be quick and do no I/O.
	CountCheck(ctx context.Context, key verification.Key, max int, now time.Time,
		judge func(verification.Verification) (verification.Status, []callback.Callback)) (v verification.Verification, counted bool, err error)
	// VerificationBySID returns one of an account's verifications.
	VerificationBySID(ctx context.Context, accountSID, sid string) (verification.Verification, error)
	// DueExpirations returns up to limit pending verifications whose codes
	// expired after since and at or before now, earliest first.
	DueExpirations(ctx context.Context, since, now time.Time, limit int) ([]verification.Verification, error)
	// Resolve applies each resolution whose guard holds, with the events
	// whose Subject it names, in one transaction; events of a resolution
	// that did not apply are dropped. It returns how many applied.
	Resolve(ctx context.Context, rs []verification.Resolution, events []callback.Callback) (int, error)
	// DueFallbacks returns up to limit fallbacks due at or before now, or
	// whose SMS failed, was undelivered or canceled, earliest first, each
	// with its SMS's status.
	DueFallbacks(ctx context.Context, now time.Time, limit int) ([]verification.Fallback, error)
	// DropFallback deletes a fallback (its verification and message SIDs);
	// false when it was gone.
	DropFallback(ctx context.Context, f verification.Fallback) (bool, error)
}

// Sender sends SMS (the pipeline).
type Sender interface {
	Send(ctx context.Context, r pipeline.Request) (pipeline.Result, error)
}

// Hasher hashes codes (keyring.Keys).
type Hasher interface {
	HashCode(verificationSID, code string) []byte
	CodeMatches(verificationSID, code string, want []byte) bool
}

// Config configures a Service.
type Config struct {
	Store Store
	// Services are the verification services (made on a first code).
	Services *Services
	SMS      Sender
	Keys     Hasher
	Phones   *phone.Parser
	Clock    otpgate.Clock
	// ResendCooldown is the least time between two codes of one
	// verification, so a double tap does not send two; 0: none.
	ResendCooldown time.Duration
	// AfterEvent, if set, is called after an event was stored (to wake the
	// webhook sender).
	AfterEvent func()
	// Approved, if set, is told of each approved code (the pumping guard
	// counts them); it must be quick and never block.
	// A code sent by email is told with to zero and its address.
	Approved func(ctx context.Context, accountSID string, to phone.Number, address string)
	// Metrics, if set, counts sends and checks by service and operator.
	Metrics *Metrics
	// Audit, if set, records each service a first code made.
	Audit *audit.Log
	// Email says the server sends email (the pipeline has a sender for
	// it): only then may a code SMS name an address to fall back to.
	Email bool
	// Logger, if set, is told of fallbacks refused (see Fallbacks).
	Logger *slog.Logger
}

// Service sends and checks verifications.
type Service struct {
	cfg Config

	sweepMu sync.Mutex
	swept   time.Time // expiries up to here were handled (ExpireDue)
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Services == nil || cfg.SMS == nil || cfg.Keys == nil || cfg.Phones == nil {
		return nil, errors.New("verify: Store, Services, SMS, Keys and Phones are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}, nil
}

// SendRequest is a request to text a code.
type SendRequest struct {
	AccountSID string
	Service    string // the service's name; created with the defaults on first use
	// Channel is message.SMS (also when "") or message.Email; an email's
	// To is an address.
	Channel message.Channel
	From    string
	To      string
	Body    string // template with {code} (and {friendly_name}); "" for the service's text in the locale
	// RateLimitKey, if set, is a key the app wants codes limited under too
	// (the end user's IP address, say): 1-128 characters, no control
	// characters.
	RateLimitKey string
	// Locale, if set, is the language of the text ("ar", "en", or one the
	// service has a template for); else the service decides (Locale).
	Locale string
	// AppHash, if set, is the Android app's SMS Retriever hash, which then
	// ends the text.
	AppHash string
	// FriendlyName, if set, names the service in the text instead of its
	// name (Verify v2's CustomFriendlyName).
	FriendlyName string
	// CustomCode, if set, is the code to send instead of a random one
	// (Verify v2's CustomCode): 4-10 digits, and only for a service with
	// CustomCode enabled.
	CustomCode string
	// FallbackTo, if set, is the email address a code goes to if this
	// code SMS fails or is not delivered in time, for a service whose
	// FallbackChannel is email (see Fallbacks).
	FallbackTo string
}

// MaxRateLimitKey is the longest rate_limit_key accepted, in characters.
const MaxRateLimitKey = 128

// SendResult is what a send did.
type SendResult struct {
	Verification verification.Verification
	Service      verification.Service
	MessageSID   string
	Operator     string
}

// Send texts a new code for the service and number: a new verification, or,
// while one is pending, another code within it.
func (s *Service) Send(ctx context.Context, req SendRequest) (SendResult, error) {
	req.Service = strings.TrimSpace(req.Service)
	if err := validServiceName(req.Service); err != nil {
		return SendResult{}, err
	}
	if req.Body != "" {
		if req.Channel == message.Email {
			return SendResult{}, otpgate.FieldError("body", otpgate.InvalidField,
				": an email's text is otpgate's own, in the code's locale; body is for SMS (every account's emails go from this server's one sender address)")
		}
		if err := validTemplate(req.Body); err != nil {
			return SendResult{}, err
		}
	}
	if err := validAppHash(req.AppHash); err != nil {
		return SendResult{}, err
	}
	if err := validFriendlyName(req.FriendlyName); err != nil {
		return SendResult{}, err
	}
	if req.CustomCode != "" {
		c, ok := phone.NormalizeCode(req.CustomCode)
		if !ok || len(c) < verification.MinCodeLength || len(c) > verification.MaxCodeLength {
			return SendResult{}, otpgate.FieldError("custom_code", otpgate.InvalidField, ": %d-%d digits", verification.MinCodeLength, verification.MaxCodeLength)
		}
		req.CustomCode = c
	}
	if err := validRateLimitKey(req.RateLimitKey); err != nil {
		return SendResult{}, err
	}
	// A service's own countries, if it exists and has them, decide where
	// its codes may go (the pipeline's geo policy).
	var countries string
	existing, err := s.service(ctx, req.AccountSID, req.Service, false)
	if err == nil {
		countries = existing.Countries
	} else if !errors.Is(err, store.ErrNotFound) {
		return SendResult{}, err
	}
	if req.FallbackTo, err = s.fallbackTo(req, existing); err != nil {
		return SendResult{}, err
	}
	var svc verification.Service
	tries := 0
	res, err := s.cfg.SMS.Send(ctx, pipeline.Request{
		AccountSID: req.AccountSID, Channel: req.Channel, To: req.To, From: req.From, Countries: countries,
		Service: req.Service, RateLimitKey: req.RateLimitKey,
		Compose: func(ctx context.Context, snd pipeline.Send) (c pipeline.Composed, err error) {
			tries++
			// The service is made only for a send the pipeline accepted.
			if svc, err = s.service(ctx, req.AccountSID, req.Service, true); err != nil {
				return c, err
			}
			// Most sends start a verification: try that first, unread. The
			// store refuses it when one is pending or locked; then the
			// send is decided again from what is there.
			return s.compose(ctx, svc, snd, req, tries > 1)
		},
	})
	if err != nil {
		return SendResult{}, err
	}
	s.cfg.Metrics.sent(svc.Name, res.To.Operator, res.Verification.V.SendAttempts <= 1)
	return SendResult{Verification: res.Verification.V, Service: svc, MessageSID: res.Message.SID, Operator: res.To.Operator}, nil
}

// fallbackTo checks a send's FallbackTo for the service (zero if it does
// not exist yet) and returns the address ("" for none).
func (s *Service) fallbackTo(req SendRequest, svc verification.Service) (string, error) {
	if strings.TrimSpace(req.FallbackTo) == "" {
		return "", nil
	}
	addr, err := emailaddr.Parse(req.FallbackTo)
	switch {
	case req.Channel.Or() != message.SMS:
		return "", otpgate.FieldError("fallback_to", otpgate.InvalidField, ": only a code by SMS falls back to email (this one goes by %s)", req.Channel)
	case !s.cfg.Email:
		return "", otpgate.FieldError("fallback_to", otpgate.InvalidField, ": this server sends no email (it was started without --smtp), so no code can fall back to it")
	case err != nil:
		return "", pipeline.AddressError("fallback_to", err)
	case svc.FallbackChannel != verification.FallbackEmail:
		return "", otpgate.FieldError("fallback_to", otpgate.InvalidField,
			": service %q has no fallback to email (set its FallbackChannel to email first)", req.Service)
	}
	return addr, nil
}

// compose decides what a send does to the number's verification (from the
// newest one when read, else a new one) and makes the code SMS.
func (s *Service) compose(ctx context.Context, svc verification.Service, snd pipeline.Send, req SendRequest, read bool) (pipeline.Composed, error) {
	if req.CustomCode != "" && !svc.Texts.CustomCode {
		return pipeline.Composed{}, otpgate.FieldError("custom_code", otpgate.InvalidField,
			": custom codes are not enabled for service %q (set CustomCodeEnabled on it first)", svc.Name)
	}
	txt, err := textOf(svc, snd, req.Body, req.Locale, snd.To.Region)
	if err != nil {
		return pipeline.Composed{}, err
	}
	key := verification.Key{AccountSID: snd.AccountSID, ServiceSID: svc.SID, To: snd.Dest()}
	var v verification.Verification
	if read {
		var err error
		if v, err = s.cfg.Store.LatestVerification(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return pipeline.Composed{}, err
		}
	}
	now := s.cfg.Clock.Now().UTC()
	ch := verification.Change{V: v}
	switch {
	case v.Live(now) && v.Status == verification.MaxAttempts:
		return pipeline.Composed{}, otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
			"Too many wrong codes were checked for %s; a new code can be sent after %s", snd.MaskedDest(), v.ExpiresAt.Format(time.RFC3339))
	case v.Live(now) && v.Status == verification.Pending:
		if err := maxSends(v, svc, snd.MaskedDest()); err != nil {
			return pipeline.Composed{}, err
		}
		if err := s.cooldown(v, svc, snd.MaskedDest(), now); err != nil {
			return pipeline.Composed{}, err
		}
		ch.V.Codes = append([]verification.Code(nil), v.Codes...)
	default:
		ch = verification.Change{New: true, V: verification.Verification{
			SID: otpgate.NewSID(otpgate.PrefixVerification), AccountSID: key.AccountSID, ServiceSID: key.ServiceSID,
			To: key.To, Channel: string(snd.Channel), Status: verification.Pending, CreatedAt: now,
		}}
	}
	ch.V.From = snd.From
	if req.FallbackTo != "" && svc.FallbackChannel == verification.FallbackEmail {
		ch.Fallback = &verification.Fallback{VerificationSID: ch.V.SID, AccountSID: ch.V.AccountSID, Address: req.FallbackTo,
			Locale: txt.locale, DueAt: now.Add(svc.FallbackDelay()), CreatedAt: now}
	}
	return s.addCode(svc, snd, txt, req, &ch, now), nil
}

// maxSends refuses another code for a verification that had all of its.
func maxSends(v verification.Verification, svc verification.Service, masked string) error {
	if v.SendAttempts < verification.MaxSends {
		return nil
	}
	return otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
		"Max send attempts reached: %d codes were sent to %s for service %q; a new verification can start after %s",
		verification.MaxSends, masked, svc.Name, v.ExpiresAt.Format(time.RFC3339))
}

// text is how a code's message reads before the code is in it, and its
// locale ("" for a request's own body).
type text struct{ subject, tmpl, warning, locale string }

// textOf decides a code's text: the request's body (an SMS's), else the
// service's text in the locale (requested, or the service's, or by the
// number's region), and an email's subject.
func textOf(svc verification.Service, snd pipeline.Send, body, requested, region string) (text, error) {
	t := text{tmpl: body}
	if t.tmpl == "" || snd.Channel == message.Email {
		loc, err := locale(svc, requested, region)
		if err != nil {
			return t, err
		}
		t.locale = loc
		if snd.Channel == message.Email {
			t.subject, t.tmpl = emailTexts(svc, loc)
		} else {
			t.tmpl = template(svc, loc)
		}
		if svc.Texts.DoNotShare {
			if t.warning = doNotShare[loc]; t.warning == "" {
				t.warning = doNotShare["en"]
			}
		}
	}
	return t, nil
}

// addCode adds a new code (the request's custom one, else a random one)
// to ch's verification, one more send, and makes its message.
func (s *Service) addCode(svc verification.Service, snd pipeline.Send, t text, req SendRequest, ch *verification.Change, now time.Time) pipeline.Composed {
	name := req.FriendlyName
	if name == "" {
		name = svc.Name
	}
	code := req.CustomCode
	if code == "" {
		code = newCode(svc.CodeLength)
	}
	expires := now.Add(svc.TTL)
	c := verification.Code{Hash: s.cfg.Keys.HashCode(ch.V.SID, code), ExpiresAt: expires}
	if ch.V.Channel != string(snd.Channel) {
		c.Channel = string(snd.Channel) // an email fallback of an SMS verification
	}
	ch.V.Codes = append(ch.V.Codes, c)
	ch.V.SendAttempts++
	ch.V.UpdatedAt, ch.V.ExpiresAt = now, expires
	appHash, webOTP := req.AppHash, svc.Texts.WebOTPDomain
	if snd.Channel == message.Email {
		appHash, webOTP = "", "" // what a phone's autofill reads in an SMS
		t.subject = strings.ReplaceAll(t.subject, FriendlyNamePlaceholder, name)
	}
	body, shown := renderWarned(t.tmpl, t.warning, name, code, appHash, webOTP)
	return pipeline.Composed{Subject: t.subject, Body: body, Shown: shown, ExpiresAt: expires, Verification: ch}
}

// cooldown refuses another code for a pending verification whose last one
// was sent less than ResendCooldown ago. A code's send time is its expiry
// less the service's lifetime (exact unless the lifetime changed since).
func (s *Service) cooldown(v verification.Verification, svc verification.Service, masked string, now time.Time) error {
	if s.cfg.ResendCooldown <= 0 || len(v.Codes) == 0 {
		return nil
	}
	sent := v.Codes[len(v.Codes)-1].ExpiresAt.Add(-svc.TTL)
	next := sent.Add(s.cfg.ResendCooldown)
	if !now.Before(next) {
		return nil
	}
	wait := next.Sub(now)
	secs := int((wait + time.Second - 1) / time.Second)
	e := otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
		"A code was sent to %s for service %q %d s ago; another can be sent in %d s (at most one every %s)",
		masked, svc.Name, int(now.Sub(sent)/time.Second), secs, s.cfg.ResendCooldown)
	e.RetryAfter = time.Duration(secs) * time.Second
	return e
}

// CheckRequest is a code typed by a user.
type CheckRequest struct {
	AccountSID string
	Service    string
	Number     string // a phone number, or the email address a code was sent to
	Code       string
}

// CheckResult is the outcome of a check.
type CheckResult struct {
	Verification      verification.Verification
	Service           verification.Service
	Valid             bool
	AttemptsRemaining int
}

// Check checks a code against the pending verification for the service and
// number. A right code approves (and spends) the verification; a wrong one
// uses up one of verification.MaxChecks attempts. Each check is one atomic
// step of the store, so concurrent wrong guesses are never evaluated more
// than MaxChecks times.
func (s *Service) Check(ctx context.Context, req CheckRequest) (CheckResult, error) {
	req.Service = strings.TrimSpace(req.Service)
	if err := validServiceName(req.Service); err != nil {
		return CheckResult{}, err
	}
	var num phone.Number
	var address, dest, masked string
	var err error
	if emailaddr.Looks(req.Number) {
		if address, err = emailaddr.Parse(req.Number); err != nil {
			return CheckResult{}, pipeline.AddressError("number", err)
		}
		dest, masked = address, "address "+emailaddr.Mask(address)
	} else {
		if num, err = s.cfg.Phones.Parse(req.Number); err != nil {
			return CheckResult{}, pipeline.NumberError("number", err)
		}
		dest, masked = num.E164, "number "+phone.Mask(num.E164)
	}
	if strings.TrimSpace(req.Code) == "" {
		return CheckResult{}, otpgate.FieldError("code", otpgate.MissingField, ": the code the user typed, %d-%d digits", verification.MinCodeLength, verification.MaxCodeLength)
	}
	code, ok := phone.NormalizeCode(req.Code)
	if !ok || len(code) < verification.MinCodeLength || len(code) > verification.MaxCodeLength {
		// No code is that short or that long: refused before it can use up an attempt.
		return CheckResult{}, otpgate.FieldError("code", otpgate.InvalidField, ": it must be %d-%d digits (spaces, dashes and Arabic-Indic digits are accepted)", verification.MinCodeLength, verification.MaxCodeLength)
	}
	notPending := otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound,
		"No pending verification for service %q and %s: none was sent, or it expired or was already approved", req.Service, masked)
	svc, err := s.service(ctx, req.AccountSID, req.Service, false)
	if errors.Is(err, store.ErrNotFound) {
		return CheckResult{}, notPending
	} else if err != nil {
		return CheckResult{}, err
	}
	now := s.cfg.Clock.Now().UTC()
	events := false
	judge := func(v verification.Verification) (verification.Status, []callback.Callback) {
		valid := false
		for _, c := range v.Codes {
			// Compare against every code, expired or not, so timing says nothing of which matched.
			m := s.cfg.Keys.CodeMatches(v.SID, code, c.Hash)
			valid = valid || (m && now.Before(c.ExpiresAt))
		}
		switch {
		case valid:
			v.Status = verification.Approved
		case v.CheckAttempts >= verification.MaxChecks:
			v.Status = verification.MaxAttempts
		default:
			return verification.Pending, nil
		}
		owed := callback.ForVerificationChange(v, svc, now)
		events = len(owed) > 0
		return v.Status, owed
	}
	key := verification.Key{AccountSID: req.AccountSID, ServiceSID: svc.SID, To: dest}
	v, counted, err := s.cfg.Store.CountCheck(ctx, key, verification.MaxChecks, now, judge)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return CheckResult{}, notPending
	case err != nil:
		return CheckResult{}, err
	case !counted && (v.Status == verification.MaxAttempts || v.Status == verification.Pending):
		s.cfg.Metrics.checked(svc.Name, num.Operator, "refused")
		return CheckResult{}, otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxCheckAttempts,
			"Max check attempts reached: %d wrong codes were checked for this verification; send a new code after %s", verification.MaxChecks, v.ExpiresAt.Format(time.RFC3339))
	case !counted:
		return CheckResult{}, notPending
	}
	if events && s.cfg.AfterEvent != nil {
		s.cfg.AfterEvent()
	}
	res := CheckResult{Verification: v, Service: svc, Valid: v.Status == verification.Approved}
	if res.Valid {
		s.cfg.Metrics.checked(svc.Name, num.Operator, "approved")
	} else {
		s.cfg.Metrics.checked(svc.Name, num.Operator, "wrong")
	}
	if res.Valid && s.cfg.Approved != nil {
		s.cfg.Approved(ctx, req.AccountSID, num, address)
	}
	if !res.Valid {
		res.AttemptsRemaining = max(0, verification.MaxChecks-v.CheckAttempts)
	}
	return res, nil
}

// Conclude ends the account's pending verification sid of service
// serviceSID on the app's word, without a code (Verify v2's
// Status=approved|canceled): its codes stop verifying. An approval owes
// the service's verification.approved event, as a right code does; a
// cancellation owes none. Neither is an approval the pumping guard counts
// (Approved): an app saying so is not a user typing a code. It returns the
// verification as changed; store.ErrNotFound when there is no such
// verification of that service or it is no longer pending.
func (s *Service) Conclude(ctx context.Context, accountSID, serviceSID, sid string, to verification.Status) (verification.Verification, error) {
	if to != verification.Approved && to != verification.Canceled {
		return verification.Verification{}, fmt.Errorf("verify: a verification is concluded approved or canceled, not %q", to)
	}
	v, err := s.cfg.Store.VerificationBySID(ctx, accountSID, sid)
	if err == nil && v.ServiceSID != serviceSID {
		err = store.ErrNotFound
	}
	if err != nil {
		return verification.Verification{}, err
	}
	svc, err := s.serviceBySID(ctx, serviceSID)
	if err != nil {
		return verification.Verification{}, err
	}
	now := s.cfg.Clock.Now().UTC()
	v.Status, v.UpdatedAt = to, now
	events := callback.ForVerificationChange(v, svc, now)
	n, err := s.cfg.Store.Resolve(ctx, []verification.Resolution{{SID: v.SID, From: []verification.Status{verification.Pending}, To: to, At: now}}, events)
	if err != nil {
		return verification.Verification{}, err
	}
	if n == 0 {
		return verification.Verification{}, store.ErrNotFound
	}
	if len(events) > 0 && s.cfg.AfterEvent != nil {
		s.cfg.AfterEvent()
	}
	return v, nil
}

// service returns the account's service of that name (Services' cached
// copy); create makes it with the default settings when there is none.
func (s *Service) service(ctx context.Context, accountSID, name string, create bool) (verification.Service, error) {
	svc, err := s.cfg.Services.Get(ctx, accountSID, name)
	if !create || !errors.Is(err, store.ErrNotFound) {
		return svc, err
	}
	svc, created, err := s.cfg.Services.Create(ctx, s.cfg.Services.New(accountSID, name))
	if err == nil && created && s.cfg.Audit != nil {
		s.cfg.Audit.Record(ctx, audit.Account(accountSID, ""), audit.Entry{AccountSID: accountSID, Kind: audit.KindService,
			Action: "create", Target: svc.SID, After: audit.Service(svc)})
	}
	return svc, err
}

// serviceBySID returns a service (Services' cached copy).
func (s *Service) serviceBySID(ctx context.Context, sid string) (verification.Service, error) {
	return s.cfg.Services.BySID(ctx, sid)
}

func validServiceName(name string) error {
	if name == "" {
		return otpgate.FieldError("service", otpgate.MissingField, ": the name of your app's service, 1-%d characters", MaxServiceName)
	}
	if utf8.RuneCountInString(name) > MaxServiceName || !utf8.ValidString(name) {
		return otpgate.FieldError("service", otpgate.InvalidField, ": it must be valid text of 1-%d characters", MaxServiceName)
	}
	if pos, r, ok := otpgate.BadRune(name, false); !ok {
		return otpgate.FieldError("service", otpgate.InvalidField, "%s", otpgate.RuneProblem(pos, r, false))
	}
	if strings.TrimSpace(name) != name {
		return otpgate.FieldError("service", otpgate.InvalidField, " %q: it must not begin or end with spaces", name)
	}
	return nil
}

func validRateLimitKey(k string) error {
	if k == "" {
		return nil
	}
	if !utf8.ValidString(k) || utf8.RuneCountInString(k) > MaxRateLimitKey || strings.TrimSpace(k) == "" {
		return otpgate.FieldError("rate_limit_key", otpgate.InvalidField, ": it must be text of 1-%d characters (the end user's IP address, say), or left out", MaxRateLimitKey)
	}
	for _, r := range k {
		if unicode.IsControl(r) {
			return otpgate.FieldError("rate_limit_key", otpgate.InvalidField, ": it must not contain control characters")
		}
	}
	return nil
}

func validTemplate(tmpl string) error {
	if !utf8.ValidString(tmpl) {
		return otpgate.FieldError("body", otpgate.InvalidField, ": it is not valid UTF-8 text")
	}
	if pos, r, ok := otpgate.BadRune(tmpl, true); !ok {
		return otpgate.FieldError("body", otpgate.InvalidField, "%s", otpgate.RuneProblem(pos, r, true))
	}
	if !strings.Contains(tmpl, Placeholder) {
		return otpgate.FieldError("body", otpgate.InvalidField, ": it must contain the placeholder {code}, where the code goes (for example \"Your code is {code}\"), or be left out for the service's text (by default %q)", builtinTexts["en"])
	}
	if n := utf8.RuneCountInString(tmpl); n+strings.Count(tmpl, Placeholder)*(verification.MaxCodeLength-len(Placeholder)) > pipeline.MaxBodyChars {
		return otpgate.FieldError("body", otpgate.FieldTooLong, ": it is %d characters; with the code it must be at most %d", n, pipeline.MaxBodyChars)
	}
	return nil
}

// validFriendlyName checks a name a request gives the service in its text.
func validFriendlyName(name string) error {
	if name == "" {
		return nil
	}
	if utf8.RuneCountInString(name) > 30 || !utf8.ValidString(name) {
		return otpgate.FieldError("friendly_name", otpgate.InvalidField, ": 1-30 characters of text")
	}
	if pos, r, ok := otpgate.BadRune(name, false); !ok {
		return otpgate.FieldError("friendly_name", otpgate.InvalidField, "%s", otpgate.RuneProblem(pos, r, false))
	}
	return nil
}

// ValidServiceName checks a service's name as the 2FA API and Verify v2's
// FriendlyName take it.
func ValidServiceName(name string) error { return validServiceName(name) }
