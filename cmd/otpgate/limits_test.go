package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/policy"
)

// The rate limits as a user meets them: per number across services, per
// rate_limit_key, per service, per account (codes and messages), each with
// its status, code, Retry-After and a message that says what was counted;
// a window later the sends go again.
func TestRateLimits(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 30, 12, 0, 30, 0, time.UTC)}
	s := mustServeWith(t, clock, func(c *ServeConfig) {
		c.PerNumber = policy.Rate{Max: 3, Window: time.Hour}
		c.Limits = guard.LimitsConfig{
			PerKey:     policy.Rate{Max: 2, Window: time.Hour},
			PerService: policy.Rate{Max: 6, Window: time.Hour},
			PerAccount: policy.Rate{Max: 12, Window: time.Hour},
		}
	})
	send := func(service, to, key string) response {
		t.Helper()
		body := map[string]string{"service": service, "from": "MyApp", "to": to}
		if key != "" {
			body["rate_limit_key"] = key
		}
		return s.postJSON(t, "/2fa/send", body)
	}
	retryAfter := func(r response) int {
		n, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		return n
	}

	// Per number, across the account's services: 3 an hour.
	for _, svc := range []string{"a", "b", "c"} {
		if r := send(svc, "0790000001", ""); r.Status != 201 {
			t.Fatalf("code %s to the number: %d %s", svc, r.Status, r.Raw)
		}
	}
	r := send("d", "0790000001", "")
	if r.Status != 429 || r.num("code") != 60203 || !strings.Contains(r.str("message"), "+96279*****01") ||
		!strings.Contains(r.str("message"), "3 SMS were sent to it in the last hour") || retryAfter(r) < 59*60 || retryAfter(r) > 3600 {
		t.Fatalf("a 4th code to one number in an hour: %d %s (Retry-After %q)", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	if strings.Contains(r.Raw, "0790000001") || strings.Contains(r.Raw, "962790000001") {
		t.Errorf("the refusal shows the whole number: %s", r.Raw)
	}

	// Per rate_limit_key (say, the end user's IP), per service: 2 an hour.
	for i := range 2 {
		if r := send("e", fmt.Sprintf("07900001%02d", i), "203.0.113.7"); r.Status != 201 {
			t.Fatalf("code %d under a key: %d %s", i, r.Status, r.Raw)
		}
	}
	if r := send("e", "0790000199", "203.0.113.7"); r.Status != 429 || r.num("code") != 60203 || !strings.Contains(r.str("message"), "rate_limit_key") {
		t.Fatalf("a 3rd code under one key: %d %s", r.Status, r.Raw)
	}
	if r := send("e", "0790000198", "203.0.113.8"); r.Status != 201 {
		t.Fatalf("another key: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []string{"a\x00b", strings.Repeat("x", 129), "  "} {
		if r := send("e", "0790000197", bad); r.Status != 400 || !strings.Contains(r.str("message"), "'rate_limit_key'") {
			t.Fatalf("rate_limit_key %q: %d %s, want 400 naming it", bad, r.Status, r.Raw)
		}
	}

	// Per service: 6 an hour ("e" has sent 3).
	for i := range 3 {
		if r := send("e", fmt.Sprintf("07900002%02d", i), ""); r.Status != 201 {
			t.Fatalf("code %d of service e: %d %s", i, r.Status, r.Raw)
		}
	}
	if r := send("e", "0790000299", ""); r.Status != 429 || r.num("code") != 20429 || !strings.Contains(r.str("message"), `Service "e" sent 6 codes`) {
		t.Fatalf("a 7th code of one service: %d %s", r.Status, r.Raw)
	}

	// Per account, codes and messages together: 12 an hour (9 sent so far).
	for i := range 3 {
		m := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {fmt.Sprintf("07900003%02d", i)}, "From": {"MyApp"}, "Body": {"hi"}})
		if m.Status != 201 {
			t.Fatalf("message %d: %d %s", i, m.Status, m.Raw)
		}
	}
	m := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {"0790000399"}, "From": {"MyApp"}, "Body": {"hi"}})
	if m.Status != 429 || m.num("code") != 20429 || !strings.Contains(m.str("message"), "account sent 12 messages") || m.Header.Get("Retry-After") == "" {
		t.Fatalf("a 13th SMS of the account: %d %s", m.Status, m.Raw)
	}
	if r := send("f", "0790000400", ""); r.Status != 429 || r.num("code") != 20429 {
		t.Fatalf("a code over the account's limit: %d %s", r.Status, r.Raw)
	}

	// An hour later everything goes again.
	clock.Advance(time.Hour)
	if r := send("d", "0790000001", ""); r.Status != 201 {
		t.Fatalf("the number an hour later: %d %s", r.Status, r.Raw)
	}
}

// --abuse-guard=off lifts the rate limits and the daily budget, and says
// so (log and /healthz); each verification's own 5 sends still hold.
func TestAbuseGuardOff(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.PerNumber, c.DailyBudget = policy.Rate{Max: 1, Window: time.Hour}, 2
		c.NoAbuseGuard = true
	})
	for _, svc := range []string{"a", "b", "c"} {
		if r := s.send(t, svc, "0790000001"); r.Status != 201 {
			t.Fatalf("code %s with the guard off: %d %s", svc, r.Status, r.Raw)
		}
	}
	h := call(t, "GET", s.URL+"/healthz", "", "", "", "")
	if h.Status != 200 || h.str("abuse_guard") != "off" {
		t.Fatalf("/healthz with the guard off: %d %s", h.Status, h.Raw)
	}
	for i := range 5 {
		if r := s.send(t, "a", "0790000002"); r.Status != 201 {
			t.Fatalf("send %d of one verification: %d %s", i+1, r.Status, r.Raw)
		}
	}
	if r := s.send(t, "a", "0790000002"); r.Status != 429 || r.num("code") != 60203 {
		t.Fatalf("a 6th send of one verification with the guard off: %d %s", r.Status, r.Raw)
	}
}

// The limit per number holds across nodes: 12 codes to one number, through
// 12 services, at once, over 3 nodes: exactly 5 are sent.
func TestClusterRateLimitAcrossNodes(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *ServeConfig) {
		cfg.PerNumber = policy.Rate{Max: 5, Window: time.Hour}
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.nodes[i%3].send(t, fmt.Sprintf("svc-%d", i), "0791234567")
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[201] != 5 || statuses[429] != 7 {
		t.Fatalf("12 codes to one number over 3 nodes under a limit of 5: %v", statuses)
	}
	if codes := c.nodes[0].codes(t, "0791234567", 5); len(codes) != 5 {
		t.Fatalf("%d codes delivered, want 5", len(codes))
	}
}
