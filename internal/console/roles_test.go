package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/verification"
)

// twoAccounts is a console with two accounts that each have a service, a
// message, a block and entries in the audit log: AC1 "Shop" and AC2 "Zeta
// Bank", whose every record carries a "zeta" mark a page of AC1 must not
// show. The routes approve a sender neither used (GLOBEX).
func twoAccounts(t *testing.T) *env {
	t.Helper()
	routes := []routing.Route{{Prefix: "+96279", Operator: "Zain", Connectors: []string{"zain"}, Senders: []string{"MyApp", "ZETAPAY", "GLOBEX"}}}
	e := newEnv(t, func(c *console.Config) { c.Routes = routes })
	ctx := context.Background()
	now := e.clock.Now()
	e.mustAccount("AC1", "Shop")
	e.mustAccount("AC2", "Zeta Bank")
	for _, s := range []verification.Service{
		{SID: "VA1", AccountSID: "AC1", Name: "shop-login", CodeLength: 6, TTL: 10 * time.Minute, CreatedAt: now},
		{SID: "VA2", AccountSID: "AC2", Name: "zeta-login", CodeLength: 6, TTL: 10 * time.Minute, CreatedAt: now},
	} {
		if _, err := e.st.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	mustSendFrom(t, e.st, "AC1", "SM1", "MyApp", "+962790310001", "shop code", now.Add(-10*time.Minute), nil)
	mustSendFrom(t, e.st, "AC2", "SMZETA", "ZETAPAY", "+962790990009", "zeta code", now.Add(-10*time.Minute), nil)
	e.mustBlock("AC1", "prefix:+96279031")
	e.mustBlock("AC2", "prefix:+96279099")
	cli := audit.CLI("root")
	if _, _, err := e.admin.AddSafe(ctx, cli, "AC1", "+962791234567"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.admin.AddSafe(ctx, cli, "AC2", "+962790990001"); err != nil {
		t.Fatal(err)
	}
	return e
}

// zetaMarks are what of AC2 a page may show.
var zetaMarks = []string{"AC2", "Zeta", "zeta", "ZETA", "SMZETA", "+96279099", "+9627909", "GLOBEX"}

// A token made for one account sees that account only, on every page, and
// changes nothing; the operator's own token sees every account.
func TestRoles(t *testing.T) {
	e := twoAccounts(t)
	supportID, support := e.mustToken("support", "AC1")
	own, all := e.loginWith(support), e.login()

	// Every page and every piece of data, walked from the routes: the
	// operator's token sees AC2's records on some, a token of AC1 on none.
	seen := map[string]bool{}
	for _, pattern := range console.SignedInPatterns(e.c) {
		method, path, _ := strings.Cut(pattern, " ")
		if method != "GET" {
			continue
		}
		path = strings.NewReplacer("{$}", "", "{account}", "AC2", "{sid}", "SMZETA").Replace(path)
		for _, q := range []string{"", "?account=AC2"} {
			res, body := e.do("GET", path+q, nil, cookieHdr(own, "HX-Request", "true"))
			if strings.Contains(pattern, "{sid}") {
				if res.StatusCode != http.StatusNotFound {
					t.Errorf("%s%s with AC1's token: %d, want 404", path, q, res.StatusCode)
				}
			} else if res.StatusCode != 200 {
				t.Errorf("%s%s with AC1's token: %d", path, q, res.StatusCode)
			}
			for _, m := range zetaMarks {
				if strings.Contains(body, m) {
					t.Errorf("%s%s with AC1's token shows %q:\n%s", path, q, m, body)
				}
			}
			_, body = e.do("GET", path+q, nil, cookieHdr(all, "HX-Request", "true"))
			for _, m := range zetaMarks {
				seen[m] = seen[m] || strings.Contains(body, m)
			}
		}
	}
	for _, m := range zetaMarks {
		if !seen[m] {
			t.Errorf("no page showed the operator's token %q: the walk proves nothing of it", m)
		}
	}

	// What AC1's token does see.
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/console/", []string{"support — account AC1 (read only)"}},
		{"/console/messages", []string{"shop code", "+96279*****01"}},
		{"/console/messages/AC1/SM1", []string{"+962790310001", "Shop (AC1)"}},
		{"/console/accounts", []string{"Shop", "shop-login"}},
		{"/console/senders", []string{"<tr><td>MyApp</td>", "your account sent with"}},
		{"/console/guard", []string{"prefix:+96279031", "only the operator of this otpgate lifts"}},
		{"/console/audit", []string{"safe_list", "+96279*****67"}},
	} {
		res, body := e.do("GET", tt.path, nil, cookieHdr(own))
		for _, w := range tt.want {
			if res.StatusCode != 200 || !strings.Contains(body, w) {
				t.Errorf("%s with AC1's token: %d, lacks %q", tt.path, res.StatusCode, w)
			}
		}
		if tt.path == "/console/guard" && strings.Contains(body, "Lift</button>") {
			t.Error("the guard page offers AC1's token a Lift button")
		}
	}
	if _, body := e.do("GET", "/console/", nil, cookieHdr(all)); !strings.Contains(body, "alice — every account") {
		t.Error("the header does not say alice sees every account")
	}
	if _, body := e.do("GET", "/console/guard", nil, cookieHdr(all)); strings.Count(body, "Lift</button>") != 2 {
		t.Error("the operator's token does not get a Lift button for each block")
	}
	_, body := e.do("GET", "/console/api/overview", nil, cookieHdr(own))
	var o console.Overview
	if err := json.Unmarshal([]byte(body), &o); err != nil || o.Totals.Sends != 1 || len(o.Services) != 0 {
		t.Errorf("AC1's overview: %v, totals %+v, services %+v; want AC1's one SMS", err, o.Totals, o.Services)
	}

	// Lifting: the guard refuses AC1's token (403, saying who can) and
	// writes the refusal in the audit log; the block stays.
	csrf := e.csrfOf(own)
	for _, acc := range []string{"AC1", "AC2"} {
		key := map[string]string{"AC1": "prefix:+96279031", "AC2": "prefix:+96279099"}[acc]
		res, body := e.do("POST", "/console/guard/lift", url.Values{"account": {acc}, "key": {key}, "csrf": {csrf}},
			cookieHdr(own, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"))
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "read only") || !strings.Contains(body, "only the operator") {
			t.Errorf("AC1's token lifting %s's block: %d\n%s", acc, res.StatusCode, body)
		}
		if len(e.blocks(acc)) != 1 {
			t.Errorf("AC1's token lifted %s's block", acc)
		}
	}
	refused, err := e.st.AuditLog(context.Background(), audit.Filter{Kind: audit.KindBlock, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 2 {
		t.Fatalf("audit log of blocks: %+v, want the two refused lifts", refused)
	}
	for _, r := range refused {
		if r.Outcome != audit.Refused || r.Action != "lift" || r.Actor != "operator:"+supportID || r.ActorName != "support" || r.RequestID == "" {
			t.Errorf("refused lift in the audit log: %+v", r)
		}
	}
	// ... and the refusal shows on AC1's audit page.
	if _, body := e.do("GET", "/console/audit?kind=block", nil, cookieHdr(own)); !strings.Contains(body, "refused") || !strings.Contains(body, "support") {
		t.Errorf("AC1's audit page does not show its refused lift:\n%s", body)
	}

	// The operator's token lifts (audited as done).
	csrf = e.csrfOf(all)
	res, _ := e.do("POST", "/console/guard/lift", url.Values{"account": {"AC2"}, "key": {"prefix:+96279099"}, "csrf": {csrf}},
		cookieHdr(all, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"))
	if res.StatusCode != http.StatusSeeOther || len(e.blocks("AC2")) != 0 {
		t.Errorf("the operator lifting AC2's block: %d, %d left", res.StatusCode, len(e.blocks("AC2")))
	}
	done, _ := e.st.AuditLog(context.Background(), audit.Filter{Kind: audit.KindBlock, Limit: 1})
	if len(done) != 1 || done[0].Outcome != audit.Done || done[0].Actor != "operator:"+e.tokID || done[0].AccountSID != "AC2" {
		t.Errorf("the lift in the audit log: %+v", done)
	}
}
