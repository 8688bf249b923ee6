// Package pipeline is where every outgoing message is made: a verification
// code (package verify) by SMS or email, a message of the messages API
// (package messaging), and whatever later API sends one. A send goes through
// the same steps whoever asks for it:
//
//  1. normalise: the destination parsed to E.164 and checked to take SMS, the
//     sender settled (the route's approved senders, its default) and checked,
//     the status callback URL checked; for an email, the address checked
//     (package emailaddr) and the sender is the server's email sender;
//  2. policies: each may refuse the send before anything is stored (the
//     account's ceilings: countries, the messages API, the pumping guard;
//     the delivery backlog), and limits counted in the send's transaction
//     (per number, the daily budget, the server's rate limits);
//  3. compose: the body, or, for a code, what the verification domain makes
//     of it (the code, the verification it belongs to);
//  4. persist: the message, its outbox entry and the verification change, in
//     one transaction;
//  5. hand off: after the commit, the message goes straight to delivery.
//
// No other code creates outgoing messages.
package pipeline

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/latency"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/smsenc"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// MaxBodyChars is the longest text accepted, in characters (Twilio's limit).
const MaxBodyChars = 1600

// Store keeps what a send writes.
type Store interface {
	// InsertSend stores a queued message with its outbox entry and, for a
	// code SMS, its verification change, in one transaction, and counts the
	// send against limits; with o.Delivered set, it records that outcome
	// too, in the same transaction. It returns store.ErrConflict, having
	// written nothing, when the change's guard failed (see
	// verification.Change), and a *ratelimit.Error when a limit was reached.
	InsertSend(ctx context.Context, m message.Message, o message.Outbound, v *verification.Change, limits ...ratelimit.Limit) error
}

// record is everything one send writes.
type record struct {
	Message      message.Message
	Outbound     message.Outbound
	Verification *verification.Change
}

// Delivery takes messages as they are committed (the dispatcher).
type Delivery interface {
	// Lease marks a message, before it is stored, as held by this process
	// for delivery (message.Outbound.LeaseUntil).
	Lease(o *message.Outbound)
	// Take starts delivering a committed message that Lease marked. It never
	// blocks, nor yields its goroutine: it may run on the store's writer.
	// ctx is the request's (for its latency.Span); the delivery outlives it.
	Take(ctx context.Context, o message.Outbound)
}

// Inliner is implemented by a Delivery that delivers some messages in the
// write that stores them: the sandbox's, whose inbox is in the store.
type Inliner interface {
	// Inline returns the outcome of delivering o, whose body is body, in
	// its own write (message.Outbound.Delivered); false when o goes
	// through the outbox.
	Inline(o message.Outbound, body string) (message.Outcome, bool)
	// Inlined tells the delivery that o, delivered in its own write, is
	// stored (for its counts).
	Inlined(o message.Outbound)
}

// Senders settles a send's sender for a destination: from as given ("" when
// absent) becomes the sender to use, or an *otpgate.Error (routing.Table).
type Senders interface {
	Sender(e164, from string) (string, error)
}

// Policy may refuse a send before anything is stored; it returns nil or an
// *otpgate.Error saying why.
type Policy interface {
	Allow(ctx context.Context, s Send) error
}

// PolicyFunc is a Policy made of a function.
type PolicyFunc func(ctx context.Context, s Send) error

// Allow calls f.
func (f PolicyFunc) Allow(ctx context.Context, s Send) error { return f(ctx, s) }

// Limiter names the rate limits a send counts against; the store counts
// them in the send's own transaction (ratelimit.Limit). Refuse words the
// refusal of a send by one of them.
type Limiter interface {
	Limits(s Send) []ratelimit.Limit
	Refuse(s Send, l ratelimit.Limit, retryAt, now time.Time) error
}

// Observer is told of every send once it is stored, with what it stored
// (the pumping guard counts them). Sent must be quick and never block.
type Observer interface {
	Sent(ctx context.Context, s Send, r Result)
}

// Ceilings says what the operator allows an account (guard.Ceilings): its
// ceilings over the server's defaults, and the countries it chose within
// them ("" for all of its ceiling).
type Ceilings interface {
	Ceilings(ctx context.Context, accountSID string) (ceilings policy.Effective, countries string, err error)
}

// CallbackChecker checks a status callback URL (webhook.Policy).
type CallbackChecker interface {
	ValidateURL(ctx context.Context, raw string) error
}

// Sealer seals a message's real body for the outbox (keyring.Keys).
type Sealer interface {
	Seal(id string, plain []byte) []byte
}

// Config configures a Pipeline.
type Config struct {
	Store     Store
	Delivery  Delivery // nil: messages wait in the outbox for a dispatcher to claim them
	Phones    *phone.Parser
	Sealer    Sealer
	Senders   Senders  // nil: any valid sender, and a sender is required
	Ceilings  Ceilings // nil: every Send has zero Ceilings (tests of the pipeline alone)
	Policies  []Policy // asked in order
	Limiters  []Limiter
	Observers []Observer      // told of each stored send, in order
	Callback  CallbackChecker // nil: status callbacks are refused
	Clock     otpgate.Clock
	// EmailFrom is the sender of emails (--smtp-from); "" refuses email
	// sends.
	EmailFrom string
}

// Pipeline makes outgoing SMS.
type Pipeline struct{ cfg Config }

// New returns a Pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Store == nil || cfg.Phones == nil || cfg.Sealer == nil {
		return nil, errors.New("pipeline: Store, Phones and Sealer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	return &Pipeline{cfg: cfg}, nil
}

// Request is one SMS an API asks for, with its fields as the client wrote them.
type Request struct {
	AccountSID string
	// Channel is message.SMS (also when "") or message.Email; an email
	// goes To an address, and only with Compose (a code).
	Channel        message.Channel
	To             string
	From           string // "" for the route's default sender
	Body           string // the text; unused when Compose is set
	StatusCallback string
	// Countries, when set, is where this send may go instead of the
	// account's countries (a service's own list, for its codes).
	Countries string
	// Service names the verification service of a code ("" for a message);
	// RateLimitKey is what the app asked the send be limited under too
	// (say, the end user's IP address), or "".
	Service      string
	RateLimitKey string
	// Compose, when set, makes the body once the send is normalised and
	// allowed (a code SMS: verify makes the code and its verification). It
	// may be called again if the verification changed meanwhile.
	Compose func(ctx context.Context, s Send) (Composed, error)
}

// Send is a request once normalised: who sends to whom.
type Send struct {
	AccountSID string
	Channel    message.Channel // message.SMS or message.Email
	// Address is an email's address (emailaddr.Parse); "" for an SMS.
	Address        string
	To             phone.Number // the number of an SMS; zero for an email
	From           string
	StatusCallback string
	Countries      string // Request.Countries
	Code           bool   // a verification code (Request.Compose is set)
	Service        string // Request.Service
	RateLimitKey   string // Request.RateLimitKey
	// Ceilings are what the operator allows the account, and
	// AccountCountries the countries it chose within them ("" for all of
	// its ceiling): read once per send, for every policy to judge by.
	Ceilings         policy.Effective
	AccountCountries string
}

// Composed is what Compose made.
type Composed struct {
	Subject      string // an email's subject (no code in it)
	Body         string // the text to send (with the code in it)
	Shown        string // what the message log keeps (the code masked)
	ExpiresAt    time.Time
	Verification *verification.Change
}

// Result is what a send stored.
type Result struct {
	Message      message.Message
	To           phone.Number
	Verification *verification.Change // for a code SMS: the verification as stored
}

// composeAttempts bounds how often a code is composed again after its
// store refused the verification change (store.ErrConflict): another send
// to the same verification was stored first. A verification takes at most
// verification.MaxSends codes, then its compose refuses (429); so, counting
// the first try (a new verification, unread), MaxSends+1 compositions end a
// burst at one verification in a stored send or a refusal. Three more cover
// a verification that ended in the burst (approved, locked) and was started
// again. Four were too few: 20 codes at once to one number and service,
// without a resend cooldown, ended in a 500 in about half the bursts.
const composeAttempts = verification.MaxSends + 4

// Send makes one outgoing SMS. When it returns nil, the message is stored
// (durably) and on its way.
func (p *Pipeline) Send(ctx context.Context, req Request) (Result, error) {
	span := latency.From(ctx)
	span.Mark(latency.Request)
	s, err := p.normalise(ctx, req)
	if err != nil {
		return Result{}, err
	}
	for _, pol := range p.cfg.Policies {
		if err := pol.Allow(ctx, s); err != nil {
			return Result{}, err
		}
	}
	if req.Compose == nil {
		if err := checkBody(req.Body); err != nil {
			return Result{}, err
		}
	}
	var limits []ratelimit.Limit
	var owners []Limiter
	for _, l := range p.cfg.Limiters {
		for _, lim := range l.Limits(s) {
			limits, owners = append(limits, lim), append(owners, l)
		}
	}
	for attempt := 1; ; attempt++ {
		c := Composed{Body: req.Body, Shown: req.Body}
		if req.Compose != nil {
			if c, err = req.Compose(ctx, s); err != nil {
				return Result{}, err
			}
		}
		r := p.record(s, c)
		span.Mark(latency.Policies)
		// A message the sandbox delivers is delivered in the write that
		// stores it. One with a status callback goes the usual way, through
		// the dispatcher, which wakes the callbacks' sender.
		inliner, _ := p.cfg.Delivery.(Inliner)
		if inliner != nil && r.Outbound.StatusCallback == "" {
			if out, ok := inliner.Inline(r.Outbound, c.Body); ok {
				r.Outbound.Delivered = &out
			}
		}
		wctx, taken := ctx, false
		if p.cfg.Delivery != nil && r.Outbound.Delivered == nil {
			// The message goes to the SMSC once it is written where a crash
			// of the process cannot lose it; the answer waits for the sync
			// (store.WhenWritten).
			wctx = store.WhenWritten(ctx, func() {
				taken = true
				p.cfg.Delivery.Take(ctx, r.Outbound)
			})
		}
		err := p.cfg.Store.InsertSend(wctx, r.Message, r.Outbound, r.Verification, limits...)
		if errors.Is(err, store.ErrConflict) && req.Compose != nil {
			if attempt < composeAttempts {
				continue // another send to the number got there first: decide again
			}
			// Sends to this verification kept getting there first: as
			// many as it takes were made at this moment.
			e := otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
				"Too many codes to %s at once: other sends to it were stored first, %d times; try again in a second",
				s.MaskedDest(), composeAttempts)
			e.RetryAfter = time.Second
			return Result{}, e
		}
		if le, ok := errors.AsType[*ratelimit.Error](err); ok {
			for i, lim := range limits {
				if lim.Key == le.Limit.Key {
					return Result{}, owners[i].Refuse(s, le.Limit, le.RetryAt, r.Message.CreatedAt)
				}
			}
		}
		if err != nil {
			return Result{}, err
		}
		if r.Outbound.Delivered != nil {
			inliner.Inlined(r.Outbound)
		} else if p.cfg.Delivery != nil && !taken {
			p.cfg.Delivery.Take(ctx, r.Outbound)
			// Let the delivery run first: it hands the message to the SMSC
			// within microseconds, while this goroutine would first write
			// its HTTP answer.
			runtime.Gosched()
		}
		res := Result{Message: r.Message, To: s.To, Verification: c.Verification}
		for _, o := range p.cfg.Observers {
			o.Sent(ctx, s, res)
		}
		return res, nil
	}
}

// record builds what a send stores.
func (p *Pipeline) record(s Send, c Composed) record {
	now := p.cfg.Clock.Now().UTC()
	m := message.Message{
		SID: otpgate.NewSID(otpgate.PrefixMessage), AccountSID: s.AccountSID, Direction: message.OutboundAPI,
		From: s.From, To: s.Dest(), Body: c.Shown, Status: message.Queued,
		CreatedAt: now, UpdatedAt: now, StatusCallback: s.StatusCallback,
		Channel: s.Channel, Subject: c.Subject,
	}
	if s.Channel == message.Email {
		m.Encoding, m.Segments = EmailEncoding, 1
	} else {
		info := smsenc.Analyze(c.Body)
		m.Encoding, m.Segments = string(info.Encoding), info.Segments
	}
	if c.Verification != nil {
		m.VerificationSID = c.Verification.V.SID
	}
	o := message.Outbound{
		SID: m.SID, AccountSID: m.AccountSID, From: m.From, To: m.To,
		Payload: p.cfg.Sealer.Seal(m.SID, []byte(c.Body)), ExpiresAt: c.ExpiresAt, CreatedAt: now,
		StatusCallback: m.StatusCallback, Channel: m.Channel, Subject: m.Subject,
	}
	if p.cfg.Delivery != nil {
		p.cfg.Delivery.Lease(&o)
	}
	return record{Message: m, Outbound: o, Verification: c.Verification}
}

// normalise parses and checks the destination, the sender and the status
// callback.
func (p *Pipeline) normalise(ctx context.Context, req Request) (Send, error) {
	s := Send{AccountSID: req.AccountSID, Channel: req.Channel.Or(), Countries: req.Countries, Code: req.Compose != nil, Service: req.Service, RateLimitKey: req.RateLimitKey}
	switch s.Channel {
	case message.SMS:
	case message.Email:
		return p.normaliseEmail(ctx, req, s)
	default:
		return s, otpgate.FieldError("channel", otpgate.InvalidField, " %q: sms or email", req.Channel)
	}
	if strings.TrimSpace(req.To) == "" {
		return s, otpgate.FieldError("to", otpgate.MissingField, ": the phone number to send to, e.g. +962790320012 (or 0790320012 in the default region)")
	}
	to, err := p.cfg.Phones.ParseSMS(req.To)
	if err != nil {
		return s, NumberError("to", err)
	}
	s.To = to
	from := strings.TrimSpace(req.From)
	if p.cfg.Senders != nil {
		if from, err = p.cfg.Senders.Sender(to.E164, from); err != nil {
			return s, err
		}
	}
	if s.From, err = CheckSender(p.cfg.Phones, from); err != nil {
		return s, err
	}
	return p.common(ctx, req, s)
}

// EmailEncoding is what the message log says of an email's text.
const EmailEncoding = "UTF-8"

// normaliseEmail checks an email send: its address, and that this server
// sends email at all.
func (p *Pipeline) normaliseEmail(ctx context.Context, req Request, s Send) (Send, error) {
	if strings.TrimSpace(req.To) == "" {
		return s, otpgate.FieldError("to", otpgate.MissingField, ": the email address to send to, %s", emailaddr.Accepted)
	}
	addr, err := emailaddr.Parse(req.To)
	if err != nil {
		return s, AddressError("to", err)
	}
	if req.Compose == nil {
		return s, otpgate.FieldError("channel", otpgate.InvalidField, " %q: only verification codes are sent by email", req.Channel)
	}
	if p.cfg.EmailFrom == "" {
		return s, otpgate.FieldError("channel", otpgate.InvalidField, " %q: this server sends no email (it was started without --smtp)", req.Channel)
	}
	s.Address, s.From = addr, p.cfg.EmailFrom
	return p.common(ctx, req, s)
}

// AddressError is the error for an email address field that did not parse.
func AddressError(field string, err error) error {
	if errors.Is(err, emailaddr.ErrTooLong) {
		return otpgate.FieldError(field, otpgate.FieldTooLong, ": %v; it takes %s", err, emailaddr.Accepted)
	}
	return otpgate.FieldError(field, otpgate.InvalidField, ": %v; it takes %s", err, emailaddr.Accepted)
}

// Dest is the destination as stored and limited: the number in E.164, or
// the email address.
func (s Send) Dest() string {
	if s.Channel == message.Email {
		return s.Address
	}
	return s.To.E164
}

// MaskedDest is Dest masked for logs and errors.
func (s Send) MaskedDest() string { return MaskDest(s.Channel, s.Dest()) }

// MaskDest masks a destination for logs and errors: a number as phone.Mask
// does, an address as emailaddr.Mask does.
func MaskDest(ch message.Channel, dest string) string {
	if ch == message.Email {
		return emailaddr.Mask(dest)
	}
	return phone.Mask(dest)
}

// common reads the account's ceilings and checks the status callback, for
// either channel.
func (p *Pipeline) common(ctx context.Context, req Request, s Send) (Send, error) {
	var err error
	if p.cfg.Ceilings != nil {
		if s.Ceilings, s.AccountCountries, err = p.cfg.Ceilings.Ceilings(ctx, s.AccountSID); err != nil {
			return s, err
		}
	}
	if req.StatusCallback != "" {
		if p.cfg.Callback == nil {
			return s, otpgate.FieldError("status_callback", otpgate.InvalidField, ": status callbacks are not enabled on this server")
		}
		if err := p.cfg.Callback.ValidateURL(ctx, req.StatusCallback); err != nil {
			return s, otpgate.FieldError("status_callback", otpgate.InvalidField, ": %v", err)
		}
		s.StatusCallback = req.StatusCallback
	}
	return s, nil
}

// checkBody checks a message's text.
func checkBody(body string) error {
	if strings.TrimSpace(body) == "" {
		return otpgate.FieldError("body", otpgate.MissingField, ": the text to send, up to %d characters in any script", MaxBodyChars)
	}
	if !utf8.ValidString(body) {
		return otpgate.FieldError("body", otpgate.InvalidField, ": it is not valid UTF-8 text")
	}
	if pos, r, ok := otpgate.BadRune(body, true); !ok {
		// No handset shows them usefully (NUL, PostgreSQL's text cannot even
		// store), and bidi overrides make a text read otherwise than it is.
		return otpgate.FieldError("body", otpgate.InvalidField, "%s", otpgate.RuneProblem(pos, r, true))
	}
	if n := utf8.RuneCountInString(body); n > MaxBodyChars {
		return otpgate.FieldError("body", otpgate.FieldTooLong, ": it is %s characters; at most %d are accepted", strconv.Itoa(n), MaxBodyChars)
	}
	return nil
}

// CheckSender validates a sender as an API gives it: an alphanumeric sender
// ID (1-11 characters of the GSM alphabet, at least one letter), a short code
// (3-8 digits) or a phone number (returned in E.164).
func CheckSender(phones *phone.Parser, from string) (string, error) {
	from = strings.TrimSpace(from)
	if from == "" {
		return "", otpgate.FieldError("from", otpgate.MissingField, ": an alphanumeric sender ID (1-11 characters, at least one letter, e.g. \"MyApp\"), a short code, or a phone number")
	}
	if pos, r, ok := otpgate.BadRune(from, false); !ok {
		return "", otpgate.FieldError("from", otpgate.InvalidField, "%s", otpgate.RuneProblem(pos, r, false))
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
			return "", otpgate.FieldError("from", otpgate.InvalidField, " %q: an alphanumeric sender ID is at most 11 characters (this one is %d)", from, n)
		}
		if info := smsenc.Analyze(from); info.Encoding != smsenc.GSM7 || info.Units != utf8.RuneCountInString(from) {
			return "", otpgate.FieldError("from", otpgate.InvalidField, " %q: an alphanumeric sender ID may use only letters A-Z and a-z, digits, spaces and basic GSM punctuation", from)
		}
		return from, nil
	}
	digits := phone.NormalizeDigits(from)
	if len(digits) >= 3 && len(digits) <= 8 && isDigits(digits) {
		return digits, nil
	}
	n, err := phones.Parse(from)
	if err != nil {
		return "", otpgate.FieldError("from", otpgate.InvalidField, " %q: it is neither an alphanumeric sender ID (1-11 characters with a letter), a short code (3-8 digits), nor a valid phone number", from)
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

// numberError is the error for a phone number field that did not parse.
func NumberError(field string, err error) error {
	var pe *phone.Error
	if errors.As(err, &pe) {
		return otpgate.FieldError(field, otpgate.InvalidField, ": %s", pe.Error())
	}
	return otpgate.FieldError(field, otpgate.InvalidField, ": %v", err)
}
