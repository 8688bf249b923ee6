// Package audit keeps the record of who changed what may be done: tokens,
// an account's ceilings and countries, safe lists, guard blocks (made or
// lifted), services and account state, and every attempt at such a change
// that was refused. Each is one row of the store's audit log and one log
// line; the row keeps the full before and after, the log line never a full
// phone number.
//
// It records and says who is who (Actor); the rules of who may change what
// are the domain's (package guard, and the APIs that call it).
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/verification"
)

// Kinds of change.
const (
	KindToken     = "token"     // an account's auth tokens, operator tokens
	KindPolicy    = "policy"    // an account's ceilings
	KindCountries = "countries" // the countries an account or a service chose within its ceiling
	KindSafeList  = "safe_list" // numbers the pumping guard leaves alone
	KindBlock     = "block"     // a pumping-guard block made or lifted
	KindService   = "service"   // a verification service made, changed or deleted
	KindAccount   = "account"   // an account made, disabled, enabled, its inbound URL
	KindAccess    = "access"    // an attempt to read what the caller may not (the operator API with an account's token)
	KindFactor    = "factor"    // a TOTP factor made, verified or deleted, an entity deleted
)

// Kinds lists every kind, for the API's and the CLI's filter.
var Kinds = []string{KindToken, KindPolicy, KindCountries, KindSafeList, KindBlock, KindService, KindAccount, KindAccess, KindFactor}

// Outcomes.
const (
	Done    = "done"
	Refused = "refused"
)

// ActorKind says which kind of caller an Actor is.
type ActorKind string

const (
	// An account, with its own SID and auth token: it may narrow its
	// countries, keep its safe list and read its blocks.
	ActorAccount ActorKind = "account"
	// An operator token (Authorization: Bearer, or a console session): the
	// operator's own (every account, every change) or one made for one
	// account (that account, reading only).
	ActorOperator ActorKind = "operator"
	// The command line on the server: the operator.
	ActorCLI ActorKind = "cli"
	// otpgate itself (the pumping guard blocking a key).
	ActorGuard ActorKind = "guard"
)

// Actor is who makes a change.
type Actor struct {
	Kind ActorKind
	// ID is the account SID or the operator token's ID.
	ID string
	// Name is the operator token's name, or the command line's OS user.
	Name string
	// Account, for an operator token made for one account, is that
	// account; "" for the operator's own.
	Account   string
	RequestID string
}

// Account is the actor of a request authenticated as account sid.
func Account(sid, requestID string) Actor {
	return Actor{Kind: ActorAccount, ID: sid, RequestID: requestID}
}

// CLI is the actor of a command run on the server by user.
func CLI(user string) Actor { return Actor{Kind: ActorCLI, Name: user} }

// Guard is otpgate's pumping guard, as an actor.
var Guard = Actor{Kind: ActorGuard, Name: "SMS-pumping guard"}

// String is the actor as the audit log writes it: "account:AC...",
// "operator:CT...", "cli", "guard".
func (a Actor) String() string {
	if a.ID == "" {
		return string(a.Kind)
	}
	return string(a.Kind) + ":" + a.ID
}

// Operator reports whether the actor is the operator with every right: the
// command line, or an operator token of the operator's own.
func (a Actor) Operator() bool {
	return a.Kind == ActorCLI || a.Kind == ActorGuard || (a.Kind == ActorOperator && a.Account == "")
}

// Reads reports whether the actor may read the account's records (blocks,
// ceilings, audit): the account itself, or any operator token that covers it.
func (a Actor) Reads(accountSID string) bool {
	switch a.Kind {
	case ActorAccount:
		return a.ID == accountSID
	case ActorOperator:
		return a.Account == "" || a.Account == accountSID
	}
	return true
}

// Entry is one change, or one refused attempt, as the domain describes it.
type Entry struct {
	AccountSID string
	Kind       string
	Action     string
	Target     string
	Before     any // marshalled to JSON; nil for none
	After      any
	// Refused, when set, says why the change was not made: the row's
	// outcome is "refused" and this is its detail.
	Refused error
}

// Store keeps the audit log.
type Store interface {
	InsertAudit(ctx context.Context, e Row) error
}

// Log records entries.
type Log struct {
	Store  Store
	Logger *slog.Logger
	Clock  otpgate.Clock
}

// NewLog returns a Log.
func NewLog(st Store, logger *slog.Logger, clock otpgate.Clock) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = otpgate.SystemClock{}
	}
	return &Log{Store: st, Logger: logger, Clock: clock}
}

// Record stores e as done (or refused) by actor, and logs it. A store
// that fails leaves the change made: the log line, at ERROR, says it with
// everything the row would have held but a full phone number.
func (l *Log) Record(ctx context.Context, actor Actor, e Entry) {
	row := Row{
		ID: otpgate.NewSID("AU"), At: l.Clock.Now().UTC(), AccountSID: e.AccountSID,
		Actor: actor.String(), ActorName: actor.Name, Kind: e.Kind, Action: e.Action, Target: e.Target,
		Before: encode(e.Before), After: encode(e.After), Outcome: Done, RequestID: actor.RequestID,
	}
	if e.Refused != nil {
		row.Outcome, row.Detail = Refused, detail(e.Refused)
	}
	attrs := []any{"audit_id", row.ID, "actor", row.Actor, "kind", row.Kind, "action", row.Action, "outcome", row.Outcome}
	if row.ActorName != "" {
		attrs = append(attrs, "actor_name", row.ActorName)
	}
	if row.AccountSID != "" {
		attrs = append(attrs, "account_sid", row.AccountSID)
	}
	if row.Target != "" {
		attrs = append(attrs, "target", MaskNumbers(row.Target))
	}
	if e.Kind != KindSafeList { // a safe list's before and after are phone numbers
		if row.Before != "" {
			attrs = append(attrs, "before", row.Before)
		}
		if row.After != "" {
			attrs = append(attrs, "after", row.After)
		}
	}
	if row.Detail != "" {
		attrs = append(attrs, "detail", MaskNumbers(row.Detail))
	}
	if row.RequestID != "" {
		attrs = append(attrs, "request_id", row.RequestID)
	}
	if l.Store != nil {
		// The change is made: the row is written even if the request is
		// gone.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := l.Store.InsertAudit(wctx, row)
		cancel()
		if err != nil {
			l.Logger.Error("audit: the audit log could not be written; this line is the record", append(attrs, "err", err)...)
			return
		}
	}
	level := slog.LevelInfo
	if row.Outcome == Refused {
		level = slog.LevelWarn
	}
	l.Logger.Log(ctx, level, "audit", attrs...)
}

func encode(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x == "" {
			return ""
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// detail is the words of a refusal (an *otpgate.Error's message).
func detail(err error) string {
	if e := otpgate.AsError(err); e != nil {
		return e.Error()
	}
	return err.Error()
}

// MaskNumbers masks every phone number in a text (for logs and pages): a run of 9 or more
// digits, with or without a "+", that is not part of a word, an ID or a
// decimal fraction. A block's prefix ("+96279031", a number less its last
// 4 digits) is shorter and stays.
func MaskNumbers(s string) string {
	isDigit := func(b byte) bool { return b >= '0' && b <= '9' }
	isWord := func(b byte) bool { return isDigit(b) || b == '.' || b == '_' || b|0x20 >= 'a' && b|0x20 <= 'z' }
	var b strings.Builder
	for i := 0; i < len(s); {
		start := i
		j := i
		if s[j] == '+' {
			j++
		}
		if j < len(s) && isDigit(s[j]) && (start == 0 || !isWord(s[start-1])) {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k-j >= 9 && (k == len(s) || !isWord(s[k]) || s[k] == '.' && (k+1 == len(s) || !isDigit(s[k+1]))) {
				b.WriteString(phone.Mask(s[start:k]))
				i = k
				continue
			}
			b.WriteString(s[start:k])
			i = k
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// Service is what the audit log keeps of a verification service: its
// settings, its events URL without query, fragment or user (they may hold
// the receiver's secret).
func Service(svc verification.Service) map[string]any {
	m := map[string]any{"sid": svc.SID, "name": svc.Name, "code_length": svc.CodeLength, "ttl_seconds": int(svc.TTL.Seconds()),
		"events_url": BareURL(svc.EventsURL), "countries": svc.Countries}
	if svc.FallbackChannel != "" {
		m["fallback_channel"], m["fallback_after_seconds"] = svc.FallbackChannel, int(svc.FallbackDelay().Seconds())
	}
	return m
}

// BareURL is a URL's scheme, host and path: what the audit log keeps of a
// webhook URL, whose query may hold the receiver's secret.
func BareURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
