package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The SMS-pumping guard as an attacker and a user meet it: codes to
// sequential numbers of one prefix, never checked, are blocked after 15
// (403/60410, the figures in the message); the block is an event on the
// service's events URL and an entry of GET /guard/blocks, for its account
// only; approved traffic in another prefix goes on; the operator lifting
// it lets codes go, and the next block is 4 times longer; a number on the
// account's safe list bypasses it, and its neighbours do not.
func TestPumpingGuard(t *testing.T) {
	var mu sync.Mutex
	var events []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		json.Unmarshal(body, &ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	clock := &fakeClock{now: time.Now().UTC()}
	s := mustServeWith(t, clock, func(c *ServeConfig) { c.WebhookAllowPrivate = true; c.CallbackRetry = 50 * time.Millisecond })
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"services", "set", "--account", s.SID, "--service", "login", "--events-url", hook.URL + "/events",
		"--webhook-allow-private", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatalf("services set: %v %s", err, errOut.String())
	}
	get := func(path string) response { return call(t, "GET", s.URL+path, s.SID, s.Token, "", "") }

	// Ordinary users in +96279041: every code approved, 40 of them.
	for i := range 40 {
		to := fmt.Sprintf("+96279041%04d", i)
		if r := s.send(t, "login", to); r.Status != 201 {
			t.Fatalf("ordinary code %d: %d %s", i, r.Status, r.Raw)
		}
		if r := s.check(t, "login", to, s.codes(t, to, 1)[0]); r.Status != 200 || r.Body["valid"] != true {
			t.Fatalf("ordinary check %d: %d %s", i, r.Status, r.Raw)
		}
	}

	// The attack: sequential numbers in +96279031, no checks.
	pump := func(from, n int) (sent int, refused response) {
		t.Helper()
		for i := from; i < from+n; i++ {
			r := s.send(t, "login", fmt.Sprintf("+96279031%04d", i))
			if r.Status != 201 {
				return sent, r
			}
			sent++
		}
		return sent, response{}
	}
	sent, r := pump(0, 100)
	if sent != 15 || r.Status != 403 || r.num("code") != 60410 {
		t.Fatalf("pumping: %d sent, then %d %s; want 15, then 403 code 60410", sent, r.Status, r.Raw)
	}
	for _, want := range []string{"numbers starting +96279031", "15 SMS were sent there in the last 10m and 0 codes were approved", "otpgate guard lift --account " + s.SID + " --key prefix:+96279031", "safe list"} {
		if !strings.Contains(r.str("message"), want) {
			t.Errorf("the refusal %q does not say %q", r.str("message"), want)
		}
	}
	if r := s.send(t, "login", "+962790999999"); r.Status != 201 {
		t.Fatalf("a code to another prefix during the block: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", "+962790310099"); r.Status != 403 {
		t.Fatalf("a code to the blocked prefix: %d %s", r.Status, r.Raw)
	}

	// The event, on the events URL of the service whose code tipped it.
	deadline := time.Now().Add(10 * time.Second)
	var ev map[string]any
	for ev == nil && time.Now().Before(deadline) {
		mu.Lock()
		for _, e := range events {
			if e["type"] == "guard.blocked" {
				ev = e
			}
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	if ev == nil || ev["key"] != "prefix:+96279031" || ev["sends"] != 15.0 || ev["approvals"] != 0.0 || ev["service"] != "login" || ev["account_sid"] != s.SID || ev["level"] != 1.0 {
		t.Fatalf("block event: %v", ev)
	}

	// GET /guard/blocks: this block and its figures, for this account only.
	b := get("/guard/blocks")
	blocks, _ := b.Body["blocks"].([]any)
	if b.Status != 200 || len(blocks) != 1 {
		t.Fatalf("GET /guard/blocks: %d %s, want the one block", b.Status, b.Raw)
	}
	blk := blocks[0].(map[string]any)
	since, _ := time.Parse(time.RFC3339, blk["since"].(string))
	until, _ := time.Parse(time.RFC3339, blk["until"].(string))
	if blk["key"] != "prefix:+96279031" || blk["kind"] != "prefix" || blk["value"] != "+96279031" || blk["sends"] != 15.0 || blk["approvals"] != 0.0 ||
		blk["window_seconds"] != 600.0 || blk["level"] != 1.0 || until.Sub(since) != 15*time.Minute {
		t.Fatalf("the block: %v", blk)
	}
	other := mustCreateAccount(t, s)
	asOther := func(method, path string) response { return call(t, method, s.URL+path, other.SID, other.Token, "", "") }
	if r := asOther("GET", "/guard/blocks"); len(r.Body["blocks"].([]any)) != 0 {
		t.Fatalf("another account sees the block: %s", r.Raw)
	}
	if r := asOther("DELETE", "/guard/blocks/+96279031"); r.Status != 403 {
		t.Fatalf("another account lifts the block: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "DELETE", s.URL+"/guard/blocks/+96279031", s.SID, s.Token, "", ""); r.Status != 403 || !strings.Contains(r.str("message"), "only the operator") {
		t.Fatalf("the account lifts its own block: %d %s", r.Status, r.Raw)
	}
	_, op := mustOperatorToken(t, s.Config.DataDir, "ops", "")
	lift := func(key string) response {
		return bearer(t, "DELETE", s.URL+"/operator/accounts/"+s.SID+"/guard/blocks/"+key, op, nil)
	}
	if r := lift("nonsense"); r.Status != 400 || !strings.Contains(r.str("message"), "'key'") {
		t.Fatalf("DELETE a malformed key: %d %s", r.Status, r.Raw)
	}
	if r := bearer(t, "DELETE", s.URL+"/operator/accounts/"+other.SID+"/guard/blocks/+96279031", op, nil); r.Status != 404 {
		t.Fatalf("lifting the block of the wrong account: %d %s", r.Status, r.Raw)
	}

	// Lifted by the operator: codes go again; the attack goes on and is
	// blocked again after 15 more, for 4 times as long.
	l := lift("+96279031")
	if l.Status != 200 || l.Body["sends"] != 15.0 {
		t.Fatalf("lift: %d %s", l.Status, l.Raw)
	}
	if r := get("/guard/blocks"); len(r.Body["blocks"].([]any)) != 0 {
		t.Fatalf("blocks after the lift: %s", r.Raw)
	}
	if r := lift("+96279031"); r.Status != 404 {
		t.Fatalf("lifting it twice: %d %s", r.Status, r.Raw)
	}
	clock.Advance(time.Minute)
	sent, r = pump(100, 100)
	if sent != 15 || r.num("code") != 60410 {
		t.Fatalf("pumping after the lift: %d sent, then %d %s", sent, r.Status, r.Raw)
	}
	blk = get("/guard/blocks").Body["blocks"].([]any)[0].(map[string]any)
	since, _ = time.Parse(time.RFC3339, blk["since"].(string))
	until, _ = time.Parse(time.RFC3339, blk["until"].(string))
	if blk["level"] != 2.0 || until.Sub(since) != time.Hour {
		t.Fatalf("the second block: %v, want level 2 for 1h", blk)
	}

	// The safe list: whole numbers only; one on it bypasses the guard,
	// blocked or not, and its neighbours stay blocked.
	for _, bad := range []string{"", "+96", "+9627x031", "+96279031", "+9627903"} {
		if r := s.postJSON(t, "/guard/safe", map[string]string{"phone_number": bad}); r.Status != 400 || !strings.Contains(r.str("message"), "'phone_number'") {
			t.Fatalf("safe entry %q: %d %s", bad, r.Status, r.Raw)
		}
	}
	if r := s.postJSON(t, "/guard/safe", map[string]string{"phone_number": "0790310300"}); r.Status != 201 || !strings.Contains(r.Raw, `"+962790310300"`) {
		t.Fatalf("safe-list a number: %d %s", r.Status, r.Raw)
	}
	for range 3 {
		if r := s.send(t, "login", "+962790310300"); r.Status != 201 {
			t.Fatalf("a code to the safe-listed number in a blocked range: %d %s", r.Status, r.Raw)
		}
	}
	if r := s.send(t, "login", "+962790310301"); r.Status != 403 {
		t.Fatalf("a code to its neighbour: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "DELETE", s.URL+"/guard/safe/+962790310300", s.SID, s.Token, "", ""); r.Status != 200 || strings.Contains(r.Raw, "+962790310300") {
		t.Fatalf("remove from the safe list: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", "+962790310300"); r.Status != 403 {
		t.Fatalf("a code to the number once off the safe list: %d %s", r.Status, r.Raw)
	}

	// The approved prefix was never blocked, and /healthz says the guard is on.
	for _, blk := range get("/guard/blocks").Body["blocks"].([]any) {
		if blk.(map[string]any)["key"] != "prefix:+96279031" {
			t.Errorf("blocked: %v", blk)
		}
	}
	if h := get("/healthz"); h.str("abuse_guard") != "on" {
		t.Errorf("/healthz: %s", h.Raw)
	}
}

// With --abuse-guard=off, the same attack is not blocked.
func TestPumpingGuardOff(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) { c.NoAbuseGuard = true })
	for i := range 40 {
		if r := s.send(t, "login", fmt.Sprintf("+96279031%04d", i)); r.Status != 201 {
			t.Fatalf("code %d with the guard off: %d %s", i, r.Status, r.Raw)
		}
	}
	if r := call(t, "GET", s.URL+"/guard/blocks", s.SID, s.Token, "", ""); r.Status != 404 {
		t.Fatalf("GET /guard/blocks with the guard off: %d %s", r.Status, r.Raw)
	}
}

// On PostgreSQL the guard's counts and blocks hold across nodes: 8 codes
// through one node and 7 through another block the prefix (not 15 per
// node), the block refuses on every node within a sync (2 s), and it is
// lifted for all through any node.
func TestClusterPumpingGuard(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	for i := range 8 {
		if r := a.send(t, "login", fmt.Sprintf("+96279051%04d", i)); r.Status != 201 {
			t.Fatalf("code %d on node 1: %d %s", i, r.Status, r.Raw)
		}
	}
	time.Sleep(2500 * time.Millisecond) // node 1 shares its counts
	for i := 8; i < 15; i++ {
		if r := b.send(t, "login", fmt.Sprintf("+96279051%04d", i)); r.Status != 201 {
			t.Fatalf("code %d on node 2: %d %s", i, r.Status, r.Raw)
		}
	}
	if r := b.send(t, "login", "+962790510015"); r.Status != 403 || r.num("code") != 60410 || !strings.Contains(r.str("message"), "15 SMS") {
		t.Fatalf("the 16th code, on node 2: %d %s", r.Status, r.Raw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := a.send(t, "login", "+962790510016")
		if r.Status == 403 && r.num("code") == 60410 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1, 5 s after node 2 blocked the prefix: %d %s", r.Status, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := call(t, "GET", a.URL+"/guard/blocks", c.sid, c.token, "", ""); len(r.Body["blocks"].([]any)) != 1 {
		t.Fatalf("node 1's GET /guard/blocks: %s", r.Raw)
	}
	if r := bearer(t, "DELETE", a.URL+"/operator/accounts/"+c.sid+"/guard/blocks/+96279051", c.operatorToken(t), nil); r.Status != 200 {
		t.Fatalf("lift through node 1: %d %s", r.Status, r.Raw)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		r := b.send(t, "login", "+962790510017")
		if r.Status == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2, 5 s after the lift: %d %s", r.Status, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
