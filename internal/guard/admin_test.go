package guard_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/keyring"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
)

var _ guard.ServiceSettings = (*verify.Services)(nil)

// adminEnv is guard.Admin over a real store, with accounts AC1 and AC2.
func adminEnv(t *testing.T) (*guard.Admin, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, sid := range []string{"AC1", "AC2"} {
		if err := st.InsertAccount(context.Background(), account.Account{SID: sid, Name: sid, TokenHash: []byte(sid), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateService(context.Background(), verification.Service{SID: "VA1", AccountSID: "AC1", Name: "login", CodeLength: 6, TTL: time.Minute, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	phones, _ := phone.NewParser("JO")
	services, err := verify.NewServices(verify.ServicesConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defaults := policy.Effective{Countries: "JO", PerNumber: guard.DefaultPerNumber, DailyBudget: policy.DefaultDailyBudget, Messages: policy.MessagesAny}
	a := &guard.Admin{
		Store:    st,
		Ceilings: guard.NewCeilings(guard.CeilingsConfig{Defaults: defaults, Accounts: st}),
		Pumping:  guard.NewPumping(guard.PumpingConfig{Store: st}),
		Phones:   phones,
		Audit:    audit.NewLog(st, nil, nil),
		Services: services,
	}
	return a, st
}

func entries(t *testing.T, st *sqlite.Store, account string) []audit.Row {
	t.Helper()
	es, err := st.AuditLog(context.Background(), audit.Filter{AccountSID: account, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// Who may change what, whatever door they come in by: the account narrows
// its countries and keeps its safe list; a token made for one account
// reads it and changes nothing; another account reaches nothing; only the
// operator changes ceilings and lifts blocks. Each change and each refusal
// is one audit row, with who and the outcome.
func TestAdminPermissions(t *testing.T) {
	ctx := context.Background()
	a, st := adminEnv(t)
	own := audit.Account("AC1", "req-1")
	other := audit.Account("AC2", "")
	scoped := audit.Actor{Kind: audit.ActorOperator, ID: "CT2", Name: "support", Account: "AC1"}
	op := audit.Actor{Kind: audit.ActorOperator, ID: "CT1", Name: "alice"}
	cli := audit.CLI("root")
	budget := 5
	p := policy.Policy{Countries: "JO,SA", DailyBudget: &budget}

	type try struct {
		name  string
		actor audit.Actor
		do    func(audit.Actor) error
		kind  otpgate.Kind // 0: allowed
	}
	setPolicy := func(x audit.Actor) error { _, err := a.SetPolicy(ctx, x, "AC1", p); return err }
	narrow := func(x audit.Actor) error { return a.SetCountries(ctx, x, "AC1", "", "JO") }
	widen := func(x audit.Actor) error { return a.SetCountries(ctx, x, "AC1", "", "JO,GB") }
	service := func(x audit.Actor) error { return a.SetCountries(ctx, x, "AC1", "login", "SA") }
	safe := func(x audit.Actor) error { _, _, err := a.AddSafe(ctx, x, "AC1", "0790000001"); return err }
	prefix := func(x audit.Actor) error { _, _, err := a.AddSafe(ctx, x, "AC1", "+9627900"); return err }
	lift := func(x audit.Actor) error { _, err := a.Lift(ctx, x, "AC1", "+96279031"); return err }
	read := func(x audit.Actor) error { _, _, err := a.Policy(ctx, x, "AC1"); return err }
	for _, c := range []try{
		{"the account sets its ceilings", own, setPolicy, otpgate.KindForbidden},
		{"a scoped token sets ceilings", scoped, setPolicy, otpgate.KindForbidden},
		{"another account sets ceilings", other, setPolicy, otpgate.KindForbidden},
		{"the operator sets ceilings", op, setPolicy, 0},
		{"the command line sets ceilings", cli, setPolicy, 0},
		{"the account narrows", own, narrow, 0},
		{"the account widens", own, widen, otpgate.KindForbidden},
		{"the operator widens past the ceiling", op, widen, otpgate.KindForbidden},
		{"a scoped token narrows", scoped, narrow, otpgate.KindForbidden},
		{"another account narrows", other, narrow, otpgate.KindForbidden},
		{"the account sets a service's list", own, service, 0},
		{"the account safe-lists a number", own, safe, 0},
		{"the account safe-lists a prefix", own, prefix, otpgate.KindInvalid},
		{"a scoped token safe-lists", scoped, safe, otpgate.KindForbidden},
		{"another account safe-lists", other, safe, otpgate.KindForbidden},
		{"the account lifts", own, lift, otpgate.KindForbidden},
		{"a scoped token lifts", scoped, lift, otpgate.KindForbidden},
		{"the operator lifts what is not blocked", op, lift, otpgate.KindNotFound},
		{"a scoped token reads", scoped, read, 0},
		{"another account reads", other, read, otpgate.KindForbidden},
	} {
		before := len(entries(t, st, ""))
		err := c.do(c.actor)
		e := otpgate.AsError(err)
		switch {
		case c.kind == 0 && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.kind != 0 && (e == nil || e.Kind != c.kind):
			t.Errorf("%s: %v; want an error of kind %v", c.name, err, c.kind)
		}
		after := entries(t, st, "")
		reading := strings.HasSuffix(c.name, "reads") // reads are not audited
		changed := c.kind == 0 && !reading
		refusedChange := !reading && (c.kind == otpgate.KindForbidden || c.kind == otpgate.KindInvalid)
		switch {
		case changed || refusedChange:
			if len(after) != before+1 {
				t.Errorf("%s: %d audit rows written; want 1", c.name, len(after)-before)
				continue
			}
			row := after[0]
			want := audit.Done
			if refusedChange {
				want = audit.Refused
			}
			if row.Outcome != want || row.Actor != c.actor.String() || row.AccountSID != "AC1" || (want == audit.Refused && row.Detail == "") {
				t.Errorf("%s: audit row %+v; want outcome %s by %s", c.name, row, want, c.actor)
			}
		case len(after) != before:
			t.Errorf("%s: %d audit rows written; want none", c.name, len(after)-before)
		}
	}
	// The changes that were allowed took: the ceiling, the account's own
	// list, the service's list, the safe number.
	acc, _ := st.Account(ctx, "AC1")
	if acc.Policy.Countries != "JO,SA" || *acc.Policy.DailyBudget != 5 || acc.Countries != "JO" {
		t.Fatalf("account after the changes: %+v", acc)
	}
	if svc, _ := st.Service(ctx, "AC1", "login"); svc.Countries != "SA" {
		t.Fatalf("service after the change: %+v", svc)
	}
	if list, _ := a.SafeList(ctx, own, "AC1"); !slices.Equal(list, []string{"+962790000001"}) {
		t.Fatalf("safe list: %v", list)
	}
	// The policy row keeps before and after; the safe-list row the number.
	var pol, sl audit.Row
	for _, e := range entries(t, st, "AC1") {
		if e.Kind == audit.KindPolicy && e.Outcome == audit.Done && e.Actor == "operator:CT1" {
			pol = e
		}
		if e.Kind == audit.KindSafeList && e.Outcome == audit.Done {
			sl = e
		}
	}
	if pol.Before != "{}" || !strings.Contains(pol.After, `"daily_budget":5`) || pol.ActorName != "alice" {
		t.Fatalf("the operator's policy row: %+v", pol)
	}
	if sl.Target != "+962790000001" || sl.RequestID != "req-1" {
		t.Fatalf("the safe-list row: %+v", sl)
	}
}

// The account's own list is cut to a ceiling narrowed after it was
// chosen: where it sends is what both allow.
func TestWithin(t *testing.T) {
	for _, c := range []struct{ list, ceiling, want string }{
		{"", "JO,SA", "JO,SA"},
		{"JO", "JO,SA", "JO"},
		{"JO,SA", "JO", "JO"},
		{"SA", "JO", ""},
		{"*", "JO", "JO"},
		{"GB", "*", "GB"},
	} {
		if got := guard.Within(c.list, c.ceiling); got != c.want {
			t.Errorf("Within(%q, %q) = %q; want %q", c.list, c.ceiling, got, c.want)
		}
	}
}

// The safe list holds at most 1,000 numbers; the 1,001st is refused and
// audited, and a number already on it is no change.
func TestSafeListCap(t *testing.T) {
	ctx := context.Background()
	a, st := adminEnv(t)
	own := audit.Account("AC1", "")
	var first []string // all but the last at once, as the store takes them
	for i := range guard.MaxSafeList - 1 {
		first = append(first, fmt.Sprintf("+9627910%05d", i))
	}
	if err := st.SetGuardSafe(ctx, "AC1", first, nil, guard.MaxSafeList); err != nil {
		t.Fatal(err)
	}
	if _, added, err := a.AddSafe(ctx, own, "AC1", "+962791099999"); err != nil || !added {
		t.Fatalf("the 1,000th number: %v %v", added, err)
	}
	if _, added, err := a.AddSafe(ctx, own, "AC1", "+962791000000"); err != nil || added {
		t.Fatalf("a number already on the full list: added %v, %v", added, err)
	}
	_, _, err := a.AddSafe(ctx, own, "AC1", "+962792000000")
	if e := otpgate.AsError(err); e == nil || e.Kind != otpgate.KindForbidden || !strings.Contains(e.Message, "1000") {
		t.Fatalf("the 1,001st number: %v", err)
	}
	if es := entries(t, st, "AC1"); es[0].Outcome != audit.Refused || es[0].Target != "+962792000000" {
		t.Fatalf("the refusal's audit row: %+v", es[0])
	}
	if _, err := a.RemoveSafe(ctx, own, "AC1", "+962792000000"); err != store.ErrNotFound {
		t.Fatalf("removing a number not on the list: %v", err)
	}
}

// A service's countries changed through the guard (POST /guard/countries,
// the console) apply to this node's very next code, not when its cache of
// services runs out.
func TestServiceCountriesApplyAtOnce(t *testing.T) {
	ctx := context.Background()
	a, st := adminEnv(t)
	keys, err := keyring.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{Store: st, Phones: a.Phones, Sealer: keys, Ceilings: a.Ceilings, Policies: []pipeline.Policy{guard.Geo{}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Config{Store: st, Services: a.Services.(*verify.Services), SMS: p, Keys: keys, Phones: a.Phones})
	if err != nil {
		t.Fatal(err)
	}
	send := func(to string) error {
		_, err := v.Send(ctx, verify.SendRequest{AccountSID: "AC1", Service: "login", From: "MyApp", To: to})
		return err
	}
	if err := send("+962790312345"); err != nil {
		t.Fatalf("a code to Jordan before the change: %v", err)
	}
	if _, err := a.SetPolicy(ctx, audit.CLI("root"), "AC1", policy.Policy{Countries: "JO,SA"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCountries(ctx, audit.Account("AC1", ""), "AC1", "login", "SA"); err != nil {
		t.Fatal(err)
	}
	if err := send("+962790312346"); otpgate.AsError(err) == nil || otpgate.AsError(err).Code != otpgate.CodeGeoPermission {
		t.Fatalf("a code to Jordan just after the service's countries became SA: %v; want refused (%d)", err, otpgate.CodeGeoPermission)
	}
	if err := send("+966501234567"); err != nil {
		t.Fatalf("a code to Saudi Arabia just after the change: %v", err)
	}
}
