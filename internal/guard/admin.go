package guard

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// MaxSafeList is the most numbers an account's safe list holds.
const MaxSafeList = 1000

// AdminStore is what Admin reads and changes.
type AdminStore interface {
	Accounts
	SetAccountPolicy(ctx context.Context, sid string, p policy.Policy) error
	SetAccountCountries(ctx context.Context, sid, countries string) error
	Service(ctx context.Context, accountSID, name string) (verification.Service, error)
}

// ServiceSettings changes a verification service's settings
// (verify.Services, which this node's next code then obeys).
type ServiceSettings interface {
	Update(ctx context.Context, accountSID, sid string, change func(*verification.Service) error) (before, after verification.Service, err error)
}

// Admin is the one way the abuse controls change, whoever asks: the
// operator (the command line, an operator token) sets an account's
// ceilings and lifts blocks; an account may narrow its countries within
// its ceiling and keep a safe list of whole numbers; a token made for one
// account reads it and changes nothing. Every change, and every attempt
// refused, is a row of the audit log.
type Admin struct {
	Store    AdminStore
	Ceilings *Ceilings
	// Pumping is the pumping guard; nil when the abuse guard is off (no
	// blocks, no safe list).
	Pumping *Pumping
	Phones  *phone.Parser
	Audit   *audit.Log
	// Services changes a service's countries; nil refuses such a change.
	Services ServiceSettings
}

// refuse records a refused attempt and returns err.
func (a *Admin) refuse(ctx context.Context, actor audit.Actor, e audit.Entry, err error) error {
	e.Refused = err
	a.Audit.Record(ctx, actor, e)
	return err
}

// record records a change.
func (a *Admin) record(ctx context.Context, actor audit.Actor, e audit.Entry) {
	a.Audit.Record(ctx, actor, e)
}

func forbidden(format string, args ...any) error {
	return otpgate.Errorf(otpgate.KindForbidden, otpgate.CodeForbidden, format, args...)
}

// onlyOperator is the refusal of a change only the operator makes.
func onlyOperator(actor audit.Actor, what, how string) error {
	who := "This account's token"
	if actor.Kind == audit.ActorOperator {
		who = "An operator token made for one account (read only)"
	}
	return forbidden("%s cannot %s: only the operator of this otpgate can, %s", who, what, how)
}

func (a *Admin) account(ctx context.Context, actor audit.Actor, sid string) error {
	if !actor.Reads(sid) {
		return forbidden("This token cannot reach account %s", sid)
	}
	if _, err := a.Store.Account(ctx, sid); errors.Is(err, store.ErrNotFound) {
		return otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "No account %s", sid)
	} else if err != nil {
		return err
	}
	return nil
}

// Policy returns the ceilings the operator set for an account (unset
// fields: the defaults) and what applies.
func (a *Admin) Policy(ctx context.Context, actor audit.Actor, sid string) (policy.Policy, policy.Effective, error) {
	if !actor.Reads(sid) {
		return policy.Policy{}, policy.Effective{}, forbidden("This token cannot reach account %s", sid)
	}
	acc, err := a.Store.Account(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Policy{}, policy.Effective{}, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "No account %s", sid)
	} else if err != nil {
		return policy.Policy{}, policy.Effective{}, err
	}
	return acc.Policy, a.Ceilings.Defaults().Apply(acc.Policy), nil
}

// MaySetPolicy refuses (and audits) an actor that may not change an
// account's ceilings: anyone but the operator. A caller checks it before
// reading what to change, so that a refusal does not depend on it.
func (a *Admin) MaySetPolicy(ctx context.Context, actor audit.Actor, sid string) error {
	if actor.Operator() {
		return nil
	}
	return a.refuse(ctx, actor, audit.Entry{AccountSID: sid, Kind: audit.KindPolicy, Action: "set", Target: sid},
		onlyOperator(actor, "change an account's ceilings", "with otpgate policy set or POST /operator/accounts/"+sid+"/policy"))
}

// SetPolicy replaces an account's ceilings; only the operator may.
func (a *Admin) SetPolicy(ctx context.Context, actor audit.Actor, sid string, p policy.Policy) (policy.Effective, error) {
	entry := audit.Entry{AccountSID: sid, Kind: audit.KindPolicy, Action: "set", Target: sid, After: p}
	if !actor.Operator() {
		return policy.Effective{}, a.MaySetPolicy(ctx, actor, sid)
	}
	if err := p.Check(); err != nil {
		return policy.Effective{}, otpgate.Invalid("policy", "Invalid policy: %v", err)
	}
	old, _, err := a.Policy(ctx, actor, sid)
	if err != nil {
		return policy.Effective{}, err
	}
	if err := a.Store.SetAccountPolicy(ctx, sid, p); err != nil {
		return policy.Effective{}, err
	}
	a.Ceilings.Forget(sid)
	entry.Before = old
	a.record(ctx, actor, entry)
	return a.Ceilings.Defaults().Apply(p), nil
}

// Countries says where an account may send: its ceiling, the countries it
// chose within it ("" for all of the ceiling), and where it sends (the
// two together).
func (a *Admin) Countries(ctx context.Context, actor audit.Actor, sid string) (ceiling, own, effective string, err error) {
	if !actor.Reads(sid) {
		return "", "", "", forbidden("This token cannot reach account %s", sid)
	}
	acc, err := a.Store.Account(ctx, sid)
	if err != nil {
		return "", "", "", err
	}
	ceiling = a.Ceilings.Defaults().Apply(acc.Policy).Countries
	return ceiling, acc.Countries, Within(acc.Countries, ceiling), nil
}

// Within is where a list chosen within a ceiling sends: the list, less
// what the ceiling (narrowed since) no longer allows; the ceiling when
// none was chosen.
func Within(list, ceiling string) string {
	if list == "" || list == ceiling {
		return ceiling
	}
	if ceiling == policy.AnyCountry {
		return list
	}
	if list == policy.AnyCountry {
		return ceiling
	}
	var out []string
	for c := range strings.SplitSeq(list, ",") {
		if policy.Allows(ceiling, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "" // nowhere: every country it chose is beyond the ceiling now
	}
	return strings.Join(out, ",")
}

// SetCountries sets the countries an account chose within its ceiling
// (service "") or those of one of its services ("" for the default: the
// whole ceiling, or for a service the account's). The account itself and
// the operator may; a list beyond the ceiling is refused (403) naming it.
func (a *Admin) SetCountries(ctx context.Context, actor audit.Actor, sid, service, countries string) error {
	entry := audit.Entry{AccountSID: sid, Kind: audit.KindCountries, Action: "set", Target: "account", After: countries}
	if service != "" {
		entry.Target = "service:" + service
	}
	if !actor.Reads(sid) {
		return a.refuse(ctx, actor, entry, forbidden("This token cannot reach account %s", sid))
	}
	if actor.Kind == audit.ActorOperator && !actor.Operator() {
		return a.refuse(ctx, actor, entry, forbidden("An operator token made for one account reads it and changes nothing"))
	}
	acc, err := a.Store.Account(ctx, sid)
	if err != nil {
		return err
	}
	ceiling := a.Ceilings.Defaults().Apply(acc.Policy).Countries
	if beyond := policy.Beyond(countries, ceiling); countries != "" && len(beyond) > 0 {
		what := strings.Join(beyond, ", ")
		if what == policy.AnyCountry {
			what = "* (any country)"
		}
		e := otpgate.FieldError("countries", otpgate.InvalidField,
			" %q: %s is beyond this account's ceiling of %s, which only the operator of this otpgate can widen; choose countries within it",
			countries, what, policy.Describe(ceiling))
		e.Kind, e.Code = otpgate.KindForbidden, otpgate.CodeForbidden
		return a.refuse(ctx, actor, entry, e)
	}
	if service != "" {
		if a.Services == nil {
			return errors.New("guard: Admin has no Services to change a service's countries with")
		}
		svc, err := a.Store.Service(ctx, sid, service)
		if err != nil {
			return err
		}
		before, _, err := a.Services.Update(ctx, sid, svc.SID, func(svc *verification.Service) error {
			svc.Countries = countries
			return nil
		})
		if err != nil {
			return err
		}
		entry.Before = before.Countries
		a.record(ctx, actor, entry)
		return nil
	}
	if err := a.Store.SetAccountCountries(ctx, sid, countries); err != nil {
		return err
	}
	a.Ceilings.Forget(sid)
	entry.Before = acc.Countries
	a.record(ctx, actor, entry)
	return nil
}

// errGuardOff is the answer about blocks and safe lists of a server whose
// abuse guard is off.
var errGuardOff = otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound,
	"The SMS-pumping guard is off on this server (--abuse-guard=off): there are no blocks and no safe list")

// SafeList returns an account's safe numbers.
func (a *Admin) SafeList(ctx context.Context, actor audit.Actor, sid string) ([]string, error) {
	if !actor.Reads(sid) {
		return nil, forbidden("This token cannot reach account %s", sid)
	}
	if a.Pumping == nil {
		return nil, errGuardOff
	}
	return a.Pumping.SafeList(ctx, sid)
}

// SafeNumber reads a safe-list entry as an account writes it: one whole
// number (any spelling the parser takes), never a prefix.
func (a *Admin) SafeNumber(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", otpgate.FieldError("phone_number", otpgate.MissingField, ": one whole phone number in E.164, like +962790312345")
	}
	n, err := a.Phones.Parse(raw)
	if err != nil || n.E164 == "" {
		return "", otpgate.FieldError("phone_number", otpgate.InvalidField,
			" %q: a safe list holds whole phone numbers in E.164, like +962790312345; a prefix or a range is not accepted (only the operator of this otpgate lifts a block on a range)", raw)
	}
	return n.E164, nil
}

// AddSafe puts one whole number on an account's safe list (at most
// MaxSafeList): the pumping guard neither counts nor blocks SMS to it. The
// account itself and the operator may. It returns the number in E.164 and
// whether it was not on the list before.
func (a *Admin) AddSafe(ctx context.Context, actor audit.Actor, sid, raw string) (string, bool, error) {
	entry := audit.Entry{AccountSID: sid, Kind: audit.KindSafeList, Action: "add", Target: raw}
	if err := a.mayChangeSafe(actor, sid); err != nil {
		return "", false, a.refuse(ctx, actor, entry, err)
	}
	if a.Pumping == nil {
		return "", false, errGuardOff
	}
	e164, err := a.SafeNumber(raw)
	if err != nil {
		return "", false, a.refuse(ctx, actor, entry, err)
	}
	entry.Target = e164
	list, err := a.Pumping.SafeList(ctx, sid)
	if err != nil {
		return "", false, err
	}
	if slices.Contains(list, e164) {
		return e164, false, nil
	}
	err = a.Pumping.SetSafe(ctx, sid, []string{e164}, nil, MaxSafeList)
	if errors.Is(err, store.ErrFull) {
		return "", false, a.refuse(ctx, actor, entry, otpgate.Errorf(otpgate.KindForbidden, otpgate.CodeForbidden,
			"The account's safe list is full: it holds %d numbers, the most it may; remove one first", MaxSafeList))
	} else if err != nil {
		return "", false, err
	}
	a.record(ctx, actor, entry)
	return e164, true, nil
}

// RemoveSafe takes a number off an account's safe list; store.ErrNotFound
// when it is not on it.
func (a *Admin) RemoveSafe(ctx context.Context, actor audit.Actor, sid, raw string) (string, error) {
	entry := audit.Entry{AccountSID: sid, Kind: audit.KindSafeList, Action: "remove", Target: raw}
	if err := a.mayChangeSafe(actor, sid); err != nil {
		return "", a.refuse(ctx, actor, entry, err)
	}
	if a.Pumping == nil {
		return "", errGuardOff
	}
	list, err := a.Pumping.SafeList(ctx, sid)
	if err != nil {
		return "", err
	}
	// An entry is removed as it is stored (a prefix kept from before safe
	// lists took numbers only, too), else as the number it spells.
	e164 := strings.TrimSpace(raw)
	if !slices.Contains(list, e164) {
		if n, err := a.SafeNumber(raw); err == nil {
			e164 = n
		}
	}
	if !slices.Contains(list, e164) {
		return e164, store.ErrNotFound
	}
	entry.Target = e164
	if err := a.Pumping.SetSafe(ctx, sid, nil, []string{e164}, 0); err != nil {
		return "", err
	}
	a.record(ctx, actor, entry)
	return e164, nil
}

func (a *Admin) mayChangeSafe(actor audit.Actor, sid string) error {
	if !actor.Reads(sid) {
		return forbidden("This token cannot reach account %s", sid)
	}
	if actor.Kind == audit.ActorOperator && !actor.Operator() {
		return forbidden("An operator token made for one account reads it and changes nothing")
	}
	return nil
}

// Blocks returns an account's blocks in force, newest first.
func (a *Admin) Blocks(ctx context.Context, actor audit.Actor, sid string) ([]guardstate.Block, error) {
	if err := a.account(ctx, actor, sid); err != nil {
		return nil, err
	}
	if a.Pumping == nil {
		return nil, nil
	}
	return a.Pumping.Blocks(ctx, sid)
}

// Lift ends a block now and forgets its counts; only the operator may. An
// account's attempt is refused (403) saying who can lift it.
func (a *Admin) Lift(ctx context.Context, actor audit.Actor, sid, rawKey string) (guardstate.Block, error) {
	entry := audit.Entry{AccountSID: sid, Kind: audit.KindBlock, Action: "lift", Target: rawKey}
	if !actor.Operator() {
		return guardstate.Block{}, a.refuse(ctx, actor, entry, onlyOperator(actor, "lift a block of the SMS-pumping guard",
			"with otpgate guard lift --account "+sid+" --key "+rawKey+", DELETE /operator/accounts/"+sid+"/guard/blocks/KEY with an operator token, or the console; an account may put its own users' numbers on its safe list (POST /v2/SafeList/Numbers)"))
	}
	key, err := ParseBlockKey(rawKey)
	if err != nil {
		return guardstate.Block{}, err
	}
	entry.Target = key
	if err := a.account(ctx, actor, sid); err != nil {
		return guardstate.Block{}, err
	}
	if a.Pumping == nil {
		return guardstate.Block{}, errGuardOff
	}
	b, err := a.Pumping.Lift(ctx, sid, key)
	if errors.Is(err, store.ErrNotFound) {
		return b, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound, "No block of %s is in force for account %s", key, sid)
	} else if err != nil {
		return b, err
	}
	entry.After = BlockView(b)
	a.record(ctx, actor, entry)
	return b, nil
}

// ParseBlockKey reads a block's key as a client writes it: a prefix
// ("+96279031" or "prefix:+96279031"), an email domain
// ("domain:example.com"), "operator:JO:Zain" or "country:JO".
func ParseBlockKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		s = "prefix:" + s
	}
	kind, v, _ := strings.Cut(s, ":")
	ok := v != "" && len(s) <= 80
	switch kind {
	case "prefix":
		ok = ok && digitsAfterPlus(v)
	case "domain":
		addr, err := emailaddr.Parse("x@" + v)
		ok = ok && err == nil && emailaddr.Domain(addr) == v
	case "operator", "country":
	default:
		ok = false
	}
	if !ok {
		return "", otpgate.FieldError("key", otpgate.InvalidField,
			" %q: a block's key is a prefix (+96279031), domain:example.com, operator:JO:Zain or country:JO, as the list of blocks shows it", s)
	}
	return s, nil
}

// digitsAfterPlus accepts "+" and 4 to 15 digits.
func digitsAfterPlus(s string) bool {
	if len(s) < 5 || len(s) > 16 || s[0] != '+' {
		return false
	}
	return strings.Trim(s[1:], "0123456789") == ""
}

// BlockJSON is a block as the APIs, the console and the audit log show it.
type BlockJSON struct {
	Key           string  `json:"key"`  // "prefix:+96279031", "operator:JO:Zain", "country:JO"
	Kind          string  `json:"kind"` // prefix, operator, country
	Value         string  `json:"value"`
	Sends         int     `json:"sends"`
	Approvals     int     `json:"approvals"`
	Conversion    float64 `json:"conversion"`
	WindowSeconds int     `json:"window_seconds"`
	Since         string  `json:"since"`
	Until         string  `json:"until"`
	Level         int     `json:"level"`
	Lifted        bool    `json:"lifted,omitempty"`
	Reason        string  `json:"reason"`
}

// BlockViews are blocks as BlockJSON ([] for none).
func BlockViews(bs []guardstate.Block) []BlockJSON {
	out := make([]BlockJSON, len(bs))
	for i, b := range bs {
		out[i] = BlockView(b)
	}
	return out
}

// BlockView is b as BlockJSON.
func BlockView(b guardstate.Block) BlockJSON {
	kind, value, _ := strings.Cut(b.Key, ":")
	out := BlockJSON{
		Key: b.Key, Kind: kind, Value: value, Sends: b.Sends, Approvals: b.Approvals,
		WindowSeconds: int(b.Window.Seconds()), Since: rfc3339(b.Since), Until: rfc3339(b.Until), Level: b.Level,
		Lifted: b.Lifted, Reason: b.Reason,
	}
	if b.Sends > 0 {
		out.Conversion = float64(b.Approvals) / float64(b.Sends)
	}
	return out
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
