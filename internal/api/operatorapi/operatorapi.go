// Package operatorapi serves the operator API under /operator/: what the
// person who runs otpgate sets for each account and reads of all of them,
// with an operator token (Authorization: Bearer, made with otpgate
// operator-token on the server): an account's ceilings (its policy), its
// pumping-guard blocks and lifting them, and the audit log. A token made
// for one account reads that account and changes nothing; an account's own
// SID and token never reach these routes. The command line does the same
// through the same guard.Admin.
package operatorapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/policy"
)

// Admin reads and changes the abuse controls (guard.Admin).
type Admin interface {
	Policy(ctx context.Context, actor audit.Actor, sid string) (policy.Policy, policy.Effective, error)
	MaySetPolicy(ctx context.Context, actor audit.Actor, sid string) error
	SetPolicy(ctx context.Context, actor audit.Actor, sid string, p policy.Policy) (policy.Effective, error)
	Blocks(ctx context.Context, actor audit.Actor, sid string) ([]guardstate.Block, error)
	Lift(ctx context.Context, actor audit.Actor, sid, key string) (guardstate.Block, error)
}

var _ Admin = (*guard.Admin)(nil)

// Store reads accounts and the audit log.
type Store interface {
	Accounts(ctx context.Context) ([]account.Account, error)
	AuditLog(ctx context.Context, f audit.Filter) ([]audit.Row, error)
}

// Dialect is the operator API's: the domain's field names, its codes.
var Dialect = &api.Dialect{Noun: "field"}

// Register adds the routes.
func Register(s *api.Server, a Admin, st Store) {
	h := handlers{a, st}
	s.Operator("GET /operator/accounts", audit.KindAccess, Dialect, h.accounts)
	s.Operator("GET /operator/accounts/{AccountSid}/policy", audit.KindPolicy, Dialect, h.policy)
	s.Operator("POST /operator/accounts/{AccountSid}/policy", audit.KindPolicy, Dialect, h.setPolicy)
	s.Operator("GET /operator/accounts/{AccountSid}/guard/blocks", audit.KindBlock, Dialect, h.blocks)
	s.Operator("DELETE /operator/accounts/{AccountSid}/guard/blocks/{key...}", audit.KindBlock, Dialect, h.lift)
	s.Operator("GET /operator/audit", audit.KindAccess, Dialect, h.audit)
}

type handlers struct {
	a  Admin
	st Store
}

// policyJSON is an account's ceilings: what the operator set for it
// (unset fields absent) and what applies.
type policyJSON struct {
	AccountSID string           `json:"account_sid"`
	Policy     policy.Policy    `json:"policy"`
	Effective  policy.Effective `json:"effective"`
}

func (h handlers) accounts(w http.ResponseWriter, r *http.Request) error {
	actor := api.Actor(r)
	all, err := h.st.Accounts(r.Context())
	if err != nil {
		return err
	}
	type accountJSON struct {
		SID       string           `json:"sid"`
		Name      string           `json:"name"`
		Disabled  bool             `json:"disabled"`
		Countries string           `json:"countries"` // where it chose to send within its ceiling; "" for all of it
		Policy    policy.Policy    `json:"policy"`
		Effective policy.Effective `json:"effective"`
	}
	out := []accountJSON{}
	for _, acc := range all {
		if !actor.Reads(acc.SID) {
			continue
		}
		own, eff, err := h.a.Policy(r.Context(), actor, acc.SID)
		if err != nil {
			return err
		}
		out = append(out, accountJSON{SID: acc.SID, Name: acc.Name, Disabled: acc.Disabled, Countries: acc.Countries, Policy: own, Effective: eff})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"accounts": out})
	return nil
}

func (h handlers) policy(w http.ResponseWriter, r *http.Request) error {
	sid := r.PathValue("AccountSid")
	own, eff, err := h.a.Policy(r.Context(), api.Actor(r), sid)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, policyJSON{AccountSID: sid, Policy: own, Effective: eff})
	return nil
}

// setPolicy changes the fields given (countries, per_number, daily_budget,
// messages, transactional; "default" unsets one) and keeps the others.
func (h handlers) setPolicy(w http.ResponseWriter, r *http.Request) error {
	sid, actor := r.PathValue("AccountSid"), api.Actor(r)
	if err := h.a.MaySetPolicy(r.Context(), actor, sid); err != nil {
		return err
	}
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	for k := range f {
		if !slices.Contains(policy.Fields, k) {
			return otpgate.Invalid(k, "Unknown field '%s': a policy's fields are %s", k, strings.Join(policy.Fields, ", "))
		}
	}
	if len(f) == 0 {
		return otpgate.Invalid("policy", "Nothing to set: give one or more of %s (a value, or default)", strings.Join(policy.Fields, ", "))
	}
	p, _, err := h.a.Policy(r.Context(), actor, sid)
	if err != nil {
		return err
	}
	for _, k := range policy.Fields {
		if !f.Has(k) {
			continue
		}
		if p, err = p.With(k, f.Get(k)); err != nil {
			return otpgate.FieldError(k, otpgate.InvalidField, ": %v", strings.TrimPrefix(err.Error(), k+" "))
		}
	}
	eff, err := h.a.SetPolicy(r.Context(), actor, sid, p)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, policyJSON{AccountSID: sid, Policy: p, Effective: eff})
	return nil
}

func (h handlers) blocks(w http.ResponseWriter, r *http.Request) error {
	bs, err := h.a.Blocks(r.Context(), api.Actor(r), r.PathValue("AccountSid"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"blocks": guard.BlockViews(bs)})
	return nil
}

func (h handlers) lift(w http.ResponseWriter, r *http.Request) error {
	b, err := h.a.Lift(r.Context(), api.Actor(r), r.PathValue("AccountSid"), r.PathValue("key"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, guard.BlockView(b))
	return nil
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// entryJSON is an audit entry as the API shows it.
type entryJSON struct {
	ID         string `json:"id"`
	At         string `json:"at"`
	AccountSID string `json:"account_sid"`
	Actor      string `json:"actor"`
	ActorName  string `json:"actor_name"`
	Kind       string `json:"kind"`
	Action     string `json:"action"`
	Target     string `json:"target"`
	Before     any    `json:"before"`
	After      any    `json:"after"`
	Outcome    string `json:"outcome"`
	Detail     string `json:"detail"`
	RequestID  string `json:"request_id"`
}

func rawJSON(s string) any {
	if s == "" {
		return nil
	}
	return jsonText(s)
}

// jsonText is stored JSON, written as it is.
type jsonText string

func (j jsonText) MarshalJSON() ([]byte, error) { return []byte(j), nil }

// audit lists the audit log, newest first: ?account=AC...&kind=K, paged
// with PageSize (50, at most 1000) and the next_page_uri it answers.
func (h handlers) audit(w http.ResponseWriter, r *http.Request) error {
	q, actor := r.URL.Query(), api.Actor(r)
	f := audit.Filter{AccountSID: q.Get("account"), Kind: q.Get("kind"), Limit: defaultPageSize}
	if f.Kind != "" && !slices.Contains(audit.Kinds, f.Kind) {
		return otpgate.FieldError("kind", otpgate.InvalidField, " %q: one of %s", f.Kind, strings.Join(audit.Kinds, ", "))
	}
	if actor.Account != "" {
		if f.AccountSID != "" && f.AccountSID != actor.Account {
			return otpgate.Errorf(otpgate.KindForbidden, otpgate.CodeForbidden, "This token cannot reach account %s", f.AccountSID)
		}
		f.AccountSID = actor.Account
	}
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return otpgate.FieldError("PageSize", otpgate.InvalidField, " %q: a number from 1 to %d", v, maxPageSize)
		}
		f.Limit = n
	}
	if tok := q.Get("PageToken"); tok != "" {
		c, ok := decodeCursor(tok)
		if !ok {
			return otpgate.FieldError("PageToken", otpgate.InvalidField, ": use the next_page_uri of a listing as given")
		}
		f.Before = &c
	}
	want := f.Limit
	f.Limit++ // one more tells whether there is a next page
	entries, err := h.st.AuditLog(r.Context(), f)
	if err != nil {
		return err
	}
	var next *string
	if len(entries) > want {
		entries = entries[:want]
		last := entries[len(entries)-1]
		v := url.Values{}
		for k, vs := range q {
			if k != "PageToken" {
				v[k] = vs
			}
		}
		v.Set("PageToken", encodeCursor(audit.Cursor{At: last.At, ID: last.ID}))
		u := "/operator/audit?" + v.Encode()
		next = &u
	}
	out := make([]entryJSON, len(entries))
	for i, e := range entries {
		out[i] = entryJSON{ID: e.ID, At: e.At.UTC().Format(time.RFC3339Nano), AccountSID: e.AccountSID, Actor: e.Actor, ActorName: e.ActorName,
			Kind: e.Kind, Action: e.Action, Target: e.Target, Before: rawJSON(e.Before), After: rawJSON(e.After), Outcome: e.Outcome,
			Detail: e.Detail, RequestID: e.RequestID}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"entries": out, "page_size": want, "next_page_uri": next})
	return nil
}

func encodeCursor(c audit.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.At.UnixNano(), 10) + ":" + c.ID))
}

func decodeCursor(tok string) (audit.Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return audit.Cursor{}, false
	}
	at, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" || len(id) > 64 {
		return audit.Cursor{}, false
	}
	return audit.Cursor{At: time.Unix(0, n).UTC(), ID: id}, true
}
