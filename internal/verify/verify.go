// Package verify holds the rules of phone verification: codes, their expiry,
// how many sends and checks a verification allows, and what each request
// does to it. Storage is a store.Store; this package decides, the store only
// keeps records and makes each decision atomic.
package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/smsenc"
	"github.com/otpgate/otpgate/internal/store"
)

// Limits and defaults, as Twilio Verify has them.
const (
	MaxChecks         = 5
	MaxSends          = 5
	DefaultCodeLength = 6
	MinCodeLength     = 4
	MaxCodeLength     = 10
	DefaultTTL        = 10 * time.Minute
	DefaultTemplate   = "Your verification code is: {code}"
	MaxBodyChars      = 1600
	MaxServiceName    = 64
	Placeholder       = "{code}"
)

// Config configures a Service.
type Config struct {
	Store      store.Store
	Keys       *Keys
	Phones     *phone.Parser
	Clock      otpgate.Clock
	CodeLength int           // default for new services; 0 means DefaultCodeLength
	TTL        time.Duration // default for new services; 0 means DefaultTTL
	// Notify, if set and Outbox is not, is called after a send commits (to
	// wake the dispatcher's poller).
	Notify func()
	// Outbox, if set, takes each committed SMS directly (the dispatcher),
	// so it goes out without waiting for the outbox to be polled.
	Outbox Outbox
	// AfterEvent, if set, is called after a verification event was queued
	// (to wake the callback sender).
	AfterEvent func()
	// Senders, if set, decides which senders a destination accepts and the
	// default sender (routing.Table); else any valid sender is accepted and
	// 'from' is required.
	Senders SenderPolicy
}

// Outbox takes SMS as they are committed.
type Outbox interface {
	// Claim marks an item, before it is stored, as this process's to send.
	Claim(it *store.OutboxItem)
	// Take hands over a committed item that Claim marked. It never blocks.
	Take(it store.OutboxItem)
}

// SenderPolicy checks a send's sender (from, "" when absent) for a
// destination and returns the sender to use, or an *otpgate.Error.
type SenderPolicy interface {
	Sender(e164, from string) (string, error)
}

// Service sends and checks verifications.
type Service struct {
	cfg Config

	// services caches service records by account and name for a few
	// seconds: looking one up is on every request's path, and a change made
	// with `otpgate services set` while the server runs applies within
	// serviceCacheTTL.
	mu       sync.RWMutex
	services map[serviceKey]cachedService
	swept    time.Time // expiries up to here were handled (ExpireDue)
}

type serviceKey struct{ account, name string }

type cachedService struct {
	store.Service
	until time.Time
}

const serviceCacheTTL = 5 * time.Second

const maxCachedServices = 100_000

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keys == nil || cfg.Phones == nil {
		return nil, errors.New("verify: Store, Keys and Phones are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	if cfg.CodeLength == 0 {
		cfg.CodeLength = DefaultCodeLength
	}
	if cfg.CodeLength < MinCodeLength || cfg.CodeLength > MaxCodeLength {
		return nil, fmt.Errorf("verify: code length %d is outside %d-%d", cfg.CodeLength, MinCodeLength, MaxCodeLength)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Minute || cfg.TTL > 24*time.Hour {
		return nil, fmt.Errorf("verify: code lifetime %s is outside 1m-24h", cfg.TTL)
	}
	return &Service{cfg: cfg, services: map[serviceKey]cachedService{}}, nil
}

// SendRequest is a request to text a code.
type SendRequest struct {
	AccountSID string
	Service    string
	From       string
	To         string
	Body       string // template with {code}; "" means DefaultTemplate
}

// SendResult is what a send did.
type SendResult struct {
	Verification store.Verification
	ServiceName  string
	Message      store.Message
	Operator     string
	service      store.Service
	item         store.OutboxItem
}

// Send texts a new code for the service and number: a new verification, or,
// while one is pending, another code within it (every code sent stays valid
// until its own expiry, so the user is never stuck between two codes).
func (s *Service) Send(ctx context.Context, req SendRequest) (SendResult, error) {
	if err := validServiceName(req.Service); err != nil {
		return SendResult{}, err
	}
	to, err := s.cfg.Phones.ParseSMS(req.To)
	if err != nil {
		return SendResult{}, numberError("to", err)
	}
	fromGiven := strings.TrimSpace(req.From)
	if s.cfg.Senders != nil {
		if fromGiven, err = s.cfg.Senders.Sender(to.E164, fromGiven); err != nil {
			return SendResult{}, err
		}
	}
	from, err := s.validSender(fromGiven)
	if err != nil {
		return SendResult{}, err
	}
	tmpl := req.Body
	if tmpl == "" {
		tmpl = DefaultTemplate
	}
	if err := validTemplate(tmpl); err != nil {
		return SendResult{}, err
	}

	now := s.cfg.Clock.Now().UTC()
	var res SendResult
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		res = SendResult{ServiceName: req.Service, Operator: to.Operator}
		svc, err := s.service(tx, req.AccountSID, req.Service, now)
		if err != nil {
			return err
		}
		res.service = svc
		v, err := tx.LatestVerification(req.AccountSID, svc.SID, to.E164)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v = store.Verification{}
		case err != nil:
			return err
		}
		live := v.SID != "" && now.Before(v.ExpiresAt)
		switch {
		case live && v.Status == store.StatusMaxAttempts:
			return otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
				"Too many wrong codes were checked for %s; a new code can be sent after %s", phone.Mask(to.E164), v.ExpiresAt.Format(time.RFC3339))
		case live && v.Status == store.StatusPending:
			if v.SendAttempts >= MaxSends {
				return otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
					"Max send attempts reached: %d codes were sent to %s for service %q; a new verification can start after %s",
					MaxSends, phone.Mask(to.E164), req.Service, v.ExpiresAt.Format(time.RFC3339))
			}
		default:
			if v.SID != "" && v.Status == store.StatusPending {
				v.Status, v.UpdatedAt = store.StatusExpired, now
				if err := tx.UpdateVerification(v); err != nil {
					return err
				}
				if _, err := queueEvent(tx, v, now); err != nil {
					return err
				}
			}
			v = store.Verification{
				SID: otpgate.NewSID(otpgate.PrefixVerification), AccountSID: req.AccountSID, ServiceSID: svc.SID,
				To: to.E164, From: from, Channel: "sms", Status: store.StatusPending, CreatedAt: now,
			}
		}
		code := newCode(svc.CodeLength)
		expires := now.Add(svc.TTL)
		v.Codes = append(v.Codes, store.Code{Hash: s.cfg.Keys.hashCode(v.SID, code), ExpiresAt: expires})
		v.SendAttempts++
		v.UpdatedAt, v.ExpiresAt, v.From = now, expires, from
		if v.SendAttempts == 1 {
			err = tx.InsertVerification(v)
		} else {
			err = tx.UpdateVerification(v)
		}
		if err != nil {
			return err
		}

		body := strings.ReplaceAll(tmpl, Placeholder, code)
		info := smsenc.Analyze(body)
		m := store.Message{
			SID: otpgate.NewSID(otpgate.PrefixMessage), AccountSID: req.AccountSID, VerificationSID: v.SID,
			Direction: "outbound-api", From: from, To: to.E164,
			Body:   strings.ReplaceAll(tmpl, Placeholder, strings.Repeat("*", len(code))),
			Status: store.MsgQueued, Encoding: string(info.Encoding), Segments: info.Segments,
			CreatedAt: now, UpdatedAt: now,
		}
		item := store.OutboxItem{
			MessageSID: m.SID, AccountSID: req.AccountSID, From: from, To: to.E164,
			Payload: s.cfg.Keys.Seal(m.SID, []byte(body)), NextAttemptAt: now, ExpiresAt: expires, CreatedAt: now,
			Quiet: true, // verification SMS have no StatusCallback
		}
		if s.cfg.Outbox != nil {
			s.cfg.Outbox.Claim(&item)
		}
		if err := tx.InsertQueuedMessage(m, item); err != nil {
			return err
		}
		res.item = item
		res.Verification, res.Message = v, m
		return nil
	})
	if err != nil {
		return SendResult{}, err
	}
	s.remember(res.service)
	if s.cfg.Outbox != nil {
		s.cfg.Outbox.Take(res.item) // delivered from here: no need to wake the poller
	} else if s.cfg.Notify != nil {
		s.cfg.Notify()
	}
	return res, nil
}

func (s *Service) cachedService(accountSID, name string) (store.Service, bool) {
	s.mu.RLock()
	c, ok := s.services[serviceKey{accountSID, name}]
	s.mu.RUnlock()
	if !ok || time.Now().After(c.until) {
		return store.Service{}, false
	}
	return c.Service, true
}

// remember caches a service known to be committed.
func (s *Service) remember(svc store.Service) {
	if svc.SID == "" {
		return
	}
	s.mu.Lock()
	if len(s.services) >= maxCachedServices {
		clear(s.services)
	}
	s.services[serviceKey{svc.AccountSID, svc.Name}] = cachedService{svc, time.Now().Add(serviceCacheTTL)}
	s.mu.Unlock()
}

// lookupService returns the account's service of that name from the cache or tx.
func (s *Service) lookupService(tx store.Tx, accountSID, name string) (store.Service, error) {
	if svc, ok := s.cachedService(accountSID, name); ok {
		return svc, nil
	}
	return tx.Service(accountSID, name)
}

// service returns the account's service of that name, creating it with the
// default settings on first use.
func (s *Service) service(tx store.Tx, accountSID, name string, now time.Time) (store.Service, error) {
	svc, err := s.lookupService(tx, accountSID, name)
	if err == nil {
		return svc, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Service{}, err
	}
	svc = store.Service{
		SID: otpgate.NewSID(otpgate.PrefixService), AccountSID: accountSID, Name: name,
		CodeLength: s.cfg.CodeLength, TTL: s.cfg.TTL, CreatedAt: now,
	}
	return svc, tx.InsertService(svc)
}

// CheckRequest is a code typed by a user.
type CheckRequest struct {
	AccountSID string
	Service    string
	Number     string
	Code       string
}

// CheckResult is the outcome of a check.
type CheckResult struct {
	Verification      store.Verification
	ServiceName       string
	Valid             bool
	AttemptsRemaining int
	event             bool
	service           store.Service
}

// Check checks a code against the pending verification for the service and
// number. A right code approves (and spends) the verification; a wrong one
// uses up one of MaxChecks attempts. Each check is one atomic step, so
// concurrent wrong guesses can never be evaluated more than MaxChecks times.
func (s *Service) Check(ctx context.Context, req CheckRequest) (CheckResult, error) {
	if err := validServiceName(req.Service); err != nil {
		return CheckResult{}, err
	}
	num, err := s.cfg.Phones.Parse(req.Number)
	if err != nil {
		return CheckResult{}, numberError("number", err)
	}
	if strings.TrimSpace(req.Code) == "" {
		return CheckResult{}, otpgate.Invalid("code", "Missing required field 'code': the code the user typed, %d-%d digits", MinCodeLength, MaxCodeLength)
	}
	code, ok := phone.NormalizeCode(req.Code)
	if !ok || len(code) > MaxCodeLength {
		return CheckResult{}, otpgate.Invalid("code", "Invalid 'code': it must be %d-%d digits (spaces, dashes and Arabic-Indic digits are accepted)", MinCodeLength, MaxCodeLength)
	}
	notPending := otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound,
		"No pending verification for service %q and number %s: none was sent, or it expired or was already approved", req.Service, phone.Mask(num.E164))

	now := s.cfg.Clock.Now().UTC()
	var res CheckResult
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		res = CheckResult{ServiceName: req.Service}
		svc, err := s.lookupService(tx, req.AccountSID, req.Service)
		if errors.Is(err, store.ErrNotFound) {
			return notPending
		} else if err != nil {
			return err
		}
		res.service = svc
		v, err := tx.LatestVerification(req.AccountSID, svc.SID, num.E164)
		if errors.Is(err, store.ErrNotFound) {
			return notPending
		} else if err != nil {
			return err
		}
		if !now.Before(v.ExpiresAt) {
			return notPending
		}
		switch v.Status {
		case store.StatusPending:
		case store.StatusMaxAttempts:
			return otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxCheckAttempts,
				"Max check attempts reached: %d wrong codes were checked for this verification; send a new code after %s", MaxChecks, v.ExpiresAt.Format(time.RFC3339))
		default:
			return notPending
		}
		v.CheckAttempts++
		valid := false
		for _, c := range v.Codes {
			// Compare against every code, expired or not, so timing says nothing of which matched.
			m := s.cfg.Keys.matches(v.SID, code, c.Hash)
			valid = valid || (m && now.Before(c.ExpiresAt))
		}
		switch {
		case valid:
			v.Status = store.StatusApproved
		case v.CheckAttempts >= MaxChecks:
			v.Status = store.StatusMaxAttempts
		}
		v.UpdatedAt = now
		if err := tx.RecordCheck(v); err != nil {
			return err
		}
		if v.Status != store.StatusPending {
			if res.event, err = queueEvent(tx, v, now); err != nil {
				return err
			}
		}
		res.Verification, res.Valid = v, valid
		res.AttemptsRemaining = max(0, MaxChecks-v.CheckAttempts)
		if valid {
			res.AttemptsRemaining = 0
		}
		return nil
	})
	if res.service.SID != "" {
		s.remember(res.service) // committed or not, the service exists
	}
	if err == nil && res.event && s.cfg.AfterEvent != nil {
		s.cfg.AfterEvent()
	}
	return res, err
}

// ExpireDue marks pending verifications whose codes all expired as expired
// (queuing their events), up to 500 at a time; it returns how many.
//
// It looks at verifications that expired since the last sweep (at the
// first, since the longest a code can live), so a sweep costs what expired
// since, not the size of the table.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	now := s.cfg.Clock.Now().UTC()
	s.mu.Lock()
	since := s.swept
	s.mu.Unlock()
	if since.IsZero() {
		since = now.Add(-25 * time.Hour)
	}
	n, events := 0, false
	var last time.Time
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		n, events, last = 0, false, time.Time{}
		due, err := tx.DueExpirations(since, now, 500)
		if err != nil {
			return err
		}
		for _, v := range due {
			last = v.ExpiresAt
			v.Status, v.UpdatedAt = store.StatusExpired, now
			if err := tx.RecordCheck(v); err != nil {
				return err
			}
			ev, err := queueEvent(tx, v, now)
			if err != nil {
				return err
			}
			events = events || ev
		}
		n = len(due)
		return nil
	})
	if err == nil {
		// Next time, from where this sweep got to: now, or (a full batch)
		// the last expiry it handled. A verification whose expiry was
		// moved later by a resend is found again then.
		s.mu.Lock()
		if n == 500 {
			s.swept = last.Add(-time.Nanosecond)
		} else {
			s.swept = now
		}
		s.mu.Unlock()
	}
	if err == nil && events && s.cfg.AfterEvent != nil {
		s.cfg.AfterEvent()
	}
	return n, err
}

// Event is the JSON POSTed to a service's events URL when one of its
// verifications is approved, expires, or reaches its maximum of wrong codes.
type Event struct {
	Type            string `json:"type"` // verification.approved, verification.expired, verification.max_attempts_reached
	AccountSID      string `json:"account_sid"`
	ServiceSID      string `json:"service_sid"`
	Service         string `json:"service"`
	VerificationSID string `json:"verification_sid"`
	To              string `json:"to"`
	Status          string `json:"status"`
	SendAttempts    int    `json:"send_attempts"`
	CheckAttempts   int    `json:"check_attempts"`
	CreatedAt       string `json:"created_at"`
	At              string `json:"at"`
}

// queueEvent queues v's event when its service has an events URL (read now,
// not from the cache: it can change while otpgate runs). It reports whether
// one was queued.
func queueEvent(tx store.Tx, v store.Verification, now time.Time) (bool, error) {
	svc, err := tx.ServiceBySID(v.ServiceSID)
	if err != nil || svc.EventsURL == "" {
		return false, err
	}
	body, err := json.Marshal(Event{
		Type: "verification." + v.Status, AccountSID: v.AccountSID, ServiceSID: svc.SID, Service: svc.Name,
		VerificationSID: v.SID, To: v.To, Status: v.Status, SendAttempts: v.SendAttempts, CheckAttempts: v.CheckAttempts,
		CreatedAt: v.CreatedAt.Format(time.RFC3339), At: now.Format(time.RFC3339),
	})
	if err != nil {
		return false, err
	}
	return true, tx.EnqueueCallback(store.Callback{
		SID: otpgate.NewSID(otpgate.PrefixCallback), MessageSID: v.SID, AccountSID: v.AccountSID, URL: svc.EventsURL,
		Params: string(body), ContentType: "json", NextAttemptAt: now, CreatedAt: now,
	})
}

func validServiceName(name string) error {
	if name == "" {
		return otpgate.Invalid("service", "Missing required field 'service': the name of your app's service, 1-%d characters", MaxServiceName)
	}
	if utf8.RuneCountInString(name) > MaxServiceName || !utf8.ValidString(name) {
		return otpgate.Invalid("service", "Invalid 'service': it must be valid text of 1-%d characters", MaxServiceName)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return otpgate.Invalid("service", "Invalid 'service': it must not contain control characters")
		}
	}
	return nil
}

func validTemplate(tmpl string) error {
	if !utf8.ValidString(tmpl) {
		return otpgate.Invalid("body", "Invalid 'body': it is not valid UTF-8 text")
	}
	if !strings.Contains(tmpl, Placeholder) {
		return otpgate.Invalid("body", "Invalid 'body': it must contain the placeholder {code}, where the code goes (for example \"Your code is {code}\"), or be left out for the default %q", DefaultTemplate)
	}
	if n := utf8.RuneCountInString(tmpl); n+strings.Count(tmpl, Placeholder)*(MaxCodeLength-len(Placeholder)) > MaxBodyChars {
		return otpgate.Invalid("body", "Invalid 'body': it is %d characters; with the code it must be at most %d", n, MaxBodyChars)
	}
	return nil
}

// validSender accepts an alphanumeric sender ID (1-11 characters of the GSM
// alphabet, at least one letter), a short code (3-8 digits) or a phone number
// (returned in E.164).
func (s *Service) validSender(from string) (string, error) { return CheckSender(s.cfg.Phones, from) }

// CheckSender validates a sender as the API gives it: an alphanumeric sender
// ID (1-11 characters of the GSM alphabet, at least one letter), a short code
// (3-8 digits) or a phone number (returned in E.164). Errors name 'from'.
func CheckSender(phones *phone.Parser, from string) (string, error) {
	from = strings.TrimSpace(from)
	if from == "" {
		return "", otpgate.Invalid("from", "Missing required field 'from': an alphanumeric sender ID (1-11 characters, at least one letter, e.g. \"MyApp\"), a short code, or a phone number")
	}
	hasLetter := false
	for _, r := range from {
		if unicode.IsLetter(r) {
			hasLetter = true
			break
		}
	}
	if hasLetter {
		if n := utf8.RuneCountInString(from); n > 11 {
			return "", otpgate.Invalid("from", "Invalid 'from' %q: an alphanumeric sender ID is at most 11 characters (this one is %d)", from, n)
		}
		if info := smsenc.Analyze(from); info.Encoding != smsenc.GSM7 || info.Units != utf8.RuneCountInString(from) {
			return "", otpgate.Invalid("from", "Invalid 'from' %q: an alphanumeric sender ID may use only letters A-Z and a-z, digits, spaces and basic GSM punctuation", from)
		}
		return from, nil
	}
	digits := phone.NormalizeDigits(from)
	if len(digits) >= 3 && len(digits) <= 8 && isDigits(digits) {
		return digits, nil
	}
	n, err := phones.Parse(from)
	if err != nil {
		return "", otpgate.Invalid("from", "Invalid 'from' %q: it is neither an alphanumeric sender ID (1-11 characters with a letter), a short code (3-8 digits), nor a valid phone number", from)
	}
	return n.E164, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func numberError(field string, err error) error {
	var pe *phone.Error
	if errors.As(err, &pe) {
		return otpgate.Invalid(field, "Invalid '%s': %s", field, pe.Error())
	}
	return otpgate.Invalid(field, "Invalid '%s': %v", field, err)
}
