package console_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
)

// auditRows counts the rows of the audit page's table.
func auditRows(body string) int {
	i := strings.Index(body, `<table id="audit">`)
	if i < 0 {
		return -1
	}
	return strings.Count(body[i:], "<td class=\"nowrap\">") // the time
}

// The audit log page: newest first, 50 a page with a link to older ones,
// by account and kind; numbers masked; refusals with their reason;
// before and after in a few words.
func TestAuditPage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.mustAccount("AC1", "Shop")
	e.mustAccount("AC2", "Other")
	start := e.clock.Now().Add(-time.Hour)
	long := `{"sid":"VA1","name":"` + strings.Repeat("x", 200) + `"}`
	for i := range 60 {
		en := audit.Row{ID: fmt.Sprintf("AU%032d", i), At: start.Add(time.Duration(i) * time.Minute), AccountSID: "AC1",
			Actor: "cli", ActorName: "root", Kind: audit.KindService, Action: "update", Target: "VA1", After: long, Outcome: audit.Done}
		switch {
		case i == 59:
			en.Kind, en.Action, en.Target, en.After = audit.KindSafeList, "add", "+962791234567", ""
		case i == 58:
			en.Actor, en.ActorName, en.Kind, en.Action, en.Target = "operator:CT"+strings.Repeat("1", 32), "support", audit.KindBlock, "lift", "prefix:+96279031"
			en.After, en.Outcome, en.Detail = "", audit.Refused, "An operator token made for one account (read only) cannot lift a block"
		case i == 57:
			en.AccountSID = "AC2"
			en.Kind, en.Action, en.Target, en.After = audit.KindPolicy, "set", "AC2", `{"countries":"JO"}`
		}
		if err := e.st.InsertAudit(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	c := e.login()
	res, body := e.do("GET", "/console/audit", nil, cookieHdr(c))
	if res.StatusCode != 200 || auditRows(body) != 50 || !strings.Contains(body, `href="/console/audit" aria-current="page"`) {
		t.Fatalf("the audit page: %d, %d rows", res.StatusCode, auditRows(body))
	}
	first := strings.Index(body, "+96279*****67")
	for _, w := range []string{
		start.Add(59 * time.Minute).Format("2006-01-02 15:04:05"), // the newest first
		"+96279*****67", "prefix:+96279031", // a whole number masked, a prefix not
		"refused", "cannot lift a block", "support", "operator:CT1111",
		"countries: JO", "Other", "root",
		"sid: VA1, name: xxx", "…", `title="sid: VA1, name: xxx`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("the audit page lacks %q", w)
		}
	}
	if first < 0 || strings.Index(body, "prefix:+96279031") < first || strings.Contains(body, "+962791234567") {
		t.Errorf("not newest first, or the whole number shows")
	}
	i := strings.Index(body, `<a href="/console/audit?before=`)
	if i < 0 {
		t.Fatal("no link to older entries")
	}
	next := body[i+len(`<a href="`):]
	next = strings.ReplaceAll(next[:strings.Index(next, `"`)], "&amp;", "&")
	res, body = e.do("GET", next, nil, cookieHdr(c))
	if res.StatusCode != 200 || auditRows(body) != 10 || strings.Contains(body, "Older entries") ||
		!strings.Contains(body, start.Format("2006-01-02 15:04:05")) {
		t.Errorf("the older page %s: %d, %d rows", next, res.StatusCode, auditRows(body))
	}

	for _, tt := range []struct {
		query  string
		status int
		rows   int
	}{
		{"kind=safe_list", 200, 1},
		{"kind=block&account=AC1", 200, 1},
		{"account=AC2", 200, 1},
		{"account=AC1&kind=policy", 200, 0},
		{"kind=nonsense", http.StatusBadRequest, 0},
		{"before=garbage", http.StatusBadRequest, 0},
	} {
		res, body := e.do("GET", "/console/audit?"+tt.query, nil, cookieHdr(c))
		if n := auditRows(body); res.StatusCode != tt.status || (tt.status == 200 && n != tt.rows) {
			t.Errorf("audit?%s: %d, %d rows; want %d, %d", tt.query, res.StatusCode, n, tt.status, tt.rows)
		}
	}
}
