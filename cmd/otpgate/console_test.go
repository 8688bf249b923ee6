package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/console"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the console's screenshots to docs/console (TestConsoleInChromium)")

var consoleTokenRE = regexp.MustCompile(`Created operator token (CT[0-9a-f]{32}) .*\n\s+Token: (otpc_\S+)`)

// mustConsoleToken makes a console token with the CLI, as an operator does
// (more: more flags, like --account AC...).
func mustConsoleToken(tb testing.TB, dataDir, name string, more ...string) (id, token string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"console-token", "--name", name, "--data-dir", dataDir}, more...)
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		tb.Fatalf("console-token: %v %s", err, errOut.String())
	}
	m := consoleTokenRE.FindStringSubmatch(out.String())
	if m == nil {
		tb.Fatalf("console-token printed %q", out.String())
	}
	return m[1], m[2]
}

// otpgate console-token makes a token that signs in (while the server
// runs), keeps only its hash, lists tokens without them, and revokes one,
// which signs its session out at once.
func TestConsoleTokenCommand(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) { c.Console = true })
	id, token := mustConsoleToken(t, s.Config.DataDir, "alice")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.PostForm(s.URL+"/console/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == console.CookieName {
			session = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in with the new token: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	page := func() int {
		req, _ := http.NewRequest("GET", s.URL+"/console/accounts", nil)
		req.AddCookie(session)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := page(); st != 200 {
		t.Fatalf("accounts page signed in: %d", st)
	}

	toks, err := s.store.OperatorTokens(t.Context())
	if err != nil || len(toks) != 1 || toks[0].ID != id || toks[0].Name != "alice" || bytes.Contains(toks[0].Hash, []byte(token)) ||
		!bytes.Equal(toks[0].Hash, console.HashToken(token)) {
		t.Fatalf("stored tokens: %+v, %v", toks, err)
	}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"console-token", "--list", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	if !strings.Contains(out.String(), id) || !strings.Contains(out.String(), "alice") || strings.Contains(out.String(), token) {
		t.Errorf("--list printed %q", out.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"console-token", "--revoke", id, "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	if st := page(); st != http.StatusSeeOther {
		t.Errorf("the session after its token was revoked: %d, want a redirect to the login", st)
	}
	err = run(t.Context(), []string{"console-token", "--revoke", id, "--data-dir", s.Config.DataDir}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("revoking twice: %v", err)
	}
}

// Without --console there is no console: /console is the API's JSON 404.
func TestConsoleOffByDefault(t *testing.T) {
	s := mustServe(t, nil)
	for _, p := range []string{"/console", "/console/", "/console/login", "/console/api/overview"} {
		r := call(t, "GET", s.URL+p, "", "", "", "")
		if r.Status != 404 {
			t.Errorf("GET %s without --console: %d %s", p, r.Status, r.Raw)
		}
	}
	var help bytes.Buffer
	run(t.Context(), []string{"serve", "--help"}, &help, &help)
	if !strings.Contains(help.String(), "-console") {
		t.Error("serve --help does not mention --console")
	}
}

// The console in a real browser (Debian's Chromium, driven by
// playwright-core from testdata/console-e2e; .ci/run installs both): after
// traffic spread over the last 50 minutes (codes to Zain, Orange and Umniah,
// most approved; an Arabic SMS; a pumped prefix that the guard blocks), a
// token made for the account sees the block and no Lift button; the
// operator signs in, the overview's chart draws points, a search by the
// number as a user types it finds the Arabic SMS shown right to left, the
// live tail fills, the block is lifted from its button and the lift shows
// in the audit log, and signing out closes the console. Each page's
// screenshot is saved under $OTPGATE_ARTIFACTS/console (else a temp dir);
// -update-screenshots writes them to docs/console for the README.
func TestConsoleInChromium(t *testing.T) {
	dir := filepath.Join("testdata", "console-e2e")
	chromium := cmpOr(os.Getenv("CHROMIUM"), "/usr/bin/chromium")
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (.ci/run installs chromium): %v", chromium, err)
		}
		t.Skipf("SKIPPING the Chromium test: %s is missing (apt-get install chromium)", chromium)
	}
	needNodePackages(t, dir, "playwright-core")

	clock := &fakeClock{now: time.Now().UTC().Add(-50 * time.Minute)}
	s := mustServeWith(t, clock, func(c *ServeConfig) { c.Console = true })
	_, token := mustConsoleToken(t, s.Config.DataDir, "e2e")
	_, scoped := mustConsoleToken(t, s.Config.DataDir, "support", "--account", s.SID)

	// Traffic: every 2 minutes, codes to each operator; most approved.
	n := 0
	for step := range 25 {
		for i, prefix := range []string{"+96279041", "+96277041", "+96278041"} {
			if (step+i)%3 == 2 {
				continue
			}
			to := fmt.Sprintf("%s%04d", prefix, n)
			n++
			if r := s.send(t, "login", to); r.Status != 201 {
				t.Fatalf("send to %s: %d %s", to, r.Status, r.Raw)
			}
			if n%4 != 0 {
				if r := s.check(t, "login", to, s.codes(t, to, 1)[0]); r.Status != 200 {
					t.Fatalf("check %s: %d %s", to, r.Status, r.Raw)
				}
			}
		}
		clock.Advance(2 * time.Minute)
	}
	arabic := "رمزك للدخول جاهز، شكراً لاستخدامك خدمتنا"
	if r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {"+962791234567"}, "From": {"MyApp"}, "Body": {arabic}}); r.Status != 201 {
		t.Fatalf("Arabic SMS: %d %s", r.Status, r.Raw)
	}
	// A pumped prefix: codes to sequential numbers, never checked, until
	// the guard blocks it.
	blocked := false
	for i := range 40 {
		r := s.send(t, "login", fmt.Sprintf("+96279031%04d", i))
		if r.Status == 403 {
			blocked = true
			break
		}
	}
	if !blocked {
		t.Fatal("the pumping guard did not block the pumped prefix")
	}

	shots := filepath.Join(t.TempDir(), "console")
	if a := os.Getenv("OTPGATE_ARTIFACTS"); a != "" {
		shots = filepath.Join(a, "console")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "console.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OTPGATE_URL="+s.URL, "CONSOLE_TOKEN="+token, "SCOPED_TOKEN="+scoped, "SEARCH_NUMBER=079 123 4567", "SHOTS_DIR="+shots, "CHROMIUM="+chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node console.mjs: %v\n%s%s", err, out, stderr.String())
	}
	var got struct {
		Errors   []string
		LoginURL string
		Who      string
		Scoped   struct {
			Who                 string
			Blocks, LiftButtons int
		}
		Chart struct {
			Series int
			Sum    float64
			Drawn  int
			Labels []string
		}
		Search                    []struct{ To, Status, Body, Dir, Direction string }
		TailRows                  int
		Accounts, Senders         int
		BlocksBefore, BlocksAfter int
		Lifting, Notice           string
		Audit                     []struct{ Who, Kind, Action, Target, Outcome string }
		AfterLogout               string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	t.Logf("Chromium saw: %s", out)
	if len(got.Errors) > 0 {
		t.Errorf("the browser reported errors (a CSP violation, a script error, a failed request): %q", got.Errors)
	}
	if got.LoginURL != "/console/login" {
		t.Errorf("not signed in, /console/ went to %s", got.LoginURL)
	}
	if got.Who != "e2e — every account" || got.Scoped.Who != "support — account "+s.SID+" (read only)" {
		t.Errorf("the header says %q for the operator's token, %q for the account's", got.Who, got.Scoped.Who)
	}
	if got.Scoped.Blocks < 1 || got.Scoped.LiftButtons != 0 {
		t.Errorf("the token made for the account sees %d blocks and %d Lift buttons; want its blocks, read only", got.Scoped.Blocks, got.Scoped.LiftButtons)
	}
	if got.Chart.Series != 3 || got.Chart.Sum < 50 || got.Chart.Drawn < 50 {
		t.Errorf("the sends chart: %d series (%v), %v sends, %d pixels of the first series drawn; want 3 operators with points drawn",
			got.Chart.Series, got.Chart.Labels, got.Chart.Sum, got.Chart.Drawn)
	}
	if len(got.Search) != 1 || got.Search[0].Body != arabic || got.Search[0].Dir != "auto" || got.Search[0].Direction != "rtl" ||
		got.Search[0].To != "+96279*****67" || got.Search[0].Status != "delivered" {
		t.Errorf("search by 079 123 4567: %+v; want the Arabic SMS, right to left, the number masked", got.Search)
	}
	if got.TailRows < 30 || got.Accounts != 1 || got.Senders < 1 {
		t.Errorf("tail rows %d, accounts %d, senders %d", got.TailRows, got.Accounts, got.Senders)
	}
	if got.BlocksBefore < 1 || got.BlocksAfter != got.BlocksBefore-1 || !strings.Contains(got.Notice, "Lifted the block of "+got.Lifting) {
		t.Errorf("lifting a block: %d before, %d after, notice %q", got.BlocksBefore, got.BlocksAfter, got.Notice)
	}
	lifted := false // the CLI's entries (tokens made) carry the wall clock's time, after the server's
	for _, a := range got.Audit {
		lifted = lifted || (a.Kind == "block" && a.Action == "lift" && a.Target == got.Lifting && a.Outcome == "done" && strings.Contains(a.Who, "e2e"))
	}
	if !lifted {
		t.Errorf("the audit log's newest entries: %+v; want the lift of %s by e2e", got.Audit, got.Lifting)
	}
	if r := s.send(t, "login", "+962790310099"); r.Status != 201 {
		t.Errorf("a code to the prefix lifted in the console: %d %s", r.Status, r.Raw)
	}
	if got.AfterLogout != "/console/login" {
		t.Errorf("after signing out, /console/ went to %s", got.AfterLogout)
	}
	names := []string{"login", "overview", "messages", "tail", "accounts", "senders", "guard", "audit"}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(shots, name+".png"))
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("screenshot %s: %v", name, err)
			continue
		}
		if *updateScreenshots {
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "console", name+".png"), b, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	t.Logf("screenshots in %s", shots)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
