package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/syncbuf"
)

// A receiver that answers after 5 s, with 40 status callbacks owed to it,
// does not hold back callbacks to another receiver: each account has its
// own cap of POSTs in flight at each host, and a callback waiting for its
// turn does not take one of the sender's workers. "Host" is host:port, so the two
// receivers, both on 127.0.0.1, are two hosts. Half the fast callbacks are
// of the slow receiver's account, half of another account.
func TestWebhookFairness(t *testing.T) {
	quit := make(chan struct{})
	var mu sync.Mutex
	slowNow, slowMost := 0, 0 // POSTs in flight at the slow receiver: now, and the most at once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		slowNow++
		slowMost = max(slowMost, slowNow)
		mu.Unlock()
		defer func() { mu.Lock(); slowNow--; mu.Unlock() }()
		select {
		case <-time.After(5 * time.Second):
		case <-quit:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)

	first := map[string]time.Time{} // message SID -> when its first callback arrived
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, _ := url.ParseQuery(string(body))
		mu.Lock()
		defer mu.Unlock()
		if sid := p.Get("MessageSid"); first[sid].IsZero() {
			first[sid] = time.Now()
		}
	}))
	t.Cleanup(fast.Close)

	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.WebhookAllowPrivate = true
		c.CallbackRetry = 50 * time.Millisecond
		c.NoAbuseGuard = noGuardForCallbacks
	})
	t.Cleanup(func() { close(quit) }) // runs first: lets the server stop without waiting for the slow answers
	slowAccount := mustCreateAccount(t, s)

	send := func(who creds, i int, statusCallback string) (sid string, at time.Time) {
		t.Helper()
		r := call(t, "POST", s.URL+"/2010-04-01/Accounts/"+who.SID+"/Messages.json", who.SID, who.Token, "application/x-www-form-urlencoded",
			url.Values{"To": {fmt.Sprintf("+96279%07d", 100+i)}, "From": {"MyApp"}, "Body": {"hello"}, "StatusCallback": {statusCallback}}.Encode())
		if r.Status != 201 {
			t.Fatalf("send %d: %d %s", i, r.Status, r.Raw)
		}
		return r.str("sid"), time.Now()
	}
	for i := range 40 {
		send(slowAccount, i, slow.URL+"/status")
	}
	sent := map[string]time.Time{}
	for i := range 20 {
		who := slowAccount
		if i%2 == 1 {
			who = creds{s.SID, s.Token}
		}
		sid, at := send(who, 40+i, fast.URL+"/status")
		sent[sid] = at
	}

	var delays []time.Duration
	for deadline := time.Now().Add(12 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		delays = delays[:0]
		for sid, at := range sent {
			if got, ok := first[sid]; ok {
				delays = append(delays, max(got.Sub(at), 0))
			}
		}
		mu.Unlock()
		if len(delays) == len(sent) || time.Now().After(deadline) {
			break
		}
	}
	if len(delays) < len(sent) {
		t.Fatalf("the fast receiver got callbacks for %d of %d messages in 12 s", len(delays), len(sent))
	}
	slices.Sort(delays)
	worst := delays[len(delays)-1]
	t.Logf("fast receiver's delay from the send's 201 to its first callback: median %v, max %v", delays[len(delays)/2], worst)
	if worst > time.Second {
		t.Fatalf("a fast receiver's first callback came %v after its send (a slow receiver held it back); want < 1 s", worst)
	}
	mu.Lock()
	defer mu.Unlock()
	if slowMost == 0 || slowMost > 4 {
		t.Fatalf("the slow receiver had at most %d callbacks in flight at once, want 1 to 4 (its account's cap at that host)", slowMost)
	}
}

// The query string of a callback URL (where receivers often put a secret)
// appears neither in the log nor in the database's record of attempts,
// whether the receiver failed (500) or could not be reached; the POST still
// goes to the whole URL.
func TestWebhookSecretNotLoggedOrStored(t *testing.T) {
	const secret = "PLANTED-SECRET-123"
	var mu sync.Mutex
	var queries []string
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	closed := "http://" + freeAddr(t) // nothing listens there

	logs := &syncbuf.Buffer{}
	s := mustServeLogging(t, nil, logs, func(c *ServeConfig) {
		c.LogLevel = "debug"
		c.WebhookAllowPrivate = true
		c.CallbackRetry = 20 * time.Millisecond
		c.NoAbuseGuard = noGuardForCallbacks
	})
	var sids []string
	for i, cb := range []string{failing.URL + "/status?key=" + secret, closed + "/status?key=" + secret + "#frag-" + secret} {
		r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{
			"To": {fmt.Sprintf("+96279%07d", 200+i)}, "From": {"MyApp"}, "Body": {"hello"}, "StatusCallback": {cb},
		})
		if r.Status != 201 {
			t.Fatalf("send: %d %s", r.Status, r.Raw)
		}
		sids = append(sids, r.str("sid"))
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if len(attemptCodes(t, s, sids[0])) >= 3 && len(attemptCodes(t, s, sids[1])) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts recorded: %v and %v, want 3 of each", attemptCodes(t, s, sids[0]), attemptCodes(t, s, sids[1]))
		}
	}
	mu.Lock()
	if len(queries) == 0 || queries[0] != "key="+secret {
		t.Errorf("the failing receiver got queries %q, want key=%s: the POST must go to the whole URL", queries, secret)
	}
	mu.Unlock()

	log := logs.String()
	if !strings.Contains(log, "status callback failed") {
		t.Errorf("no failed callback was logged:\n%s", log)
	}
	if strings.Contains(log, secret) {
		t.Errorf("the log holds the callback URL's secret:\n%s", log)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.Config.DataDir, "otpgate.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT url, error FROM callback_attempts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	urls := map[string]bool{}
	for rows.Next() {
		var u, e string
		if err := rows.Scan(&u, &e); err != nil {
			t.Fatal(err)
		}
		urls[u] = true
		if strings.Contains(e, secret) {
			t.Errorf("attempt error %q holds the secret", e)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{failing.URL + "/status": true, closed + "/status": true}; fmt.Sprint(urls) != fmt.Sprint(want) {
		t.Errorf("attempt URLs %v, want %v (scheme, host and path only)", urls, want)
	}

	// Every other table: the URL is kept whole only where it is needed to
	// POST it (the pending callback) and as the message's StatusCallback.
	needed := map[string]bool{"callbacks.url": true, "messages.status_callback": true}
	for table, column := range secretCells(t, db, secret) {
		if !needed[table+"."+column] {
			t.Errorf("%s.%s holds the callback URL's secret", table, column)
		}
	}
}

// secretCells returns the table and column of every cell of db whose text
// contains secret.
func secretCells(tb testing.TB, db *sql.DB, secret string) map[string]string {
	tb.Helper()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	found := map[string]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		cells := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range cells {
			ptrs[i] = &cells[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			for i, v := range cells {
				var text []byte
				switch v := v.(type) {
				case string:
					text = []byte(v)
				case []byte:
					text = v
				}
				if bytes.Contains(text, []byte(secret)) {
					found[table] = cols[i]
				}
			}
		}
		rows.Close()
	}
	return found
}

// noGuardForCallbacks: the callback tests' messages go to sequential numbers
// of one range, which the SMS-pumping guard would block after 15; the
// callbacks, not the guard, are under test.
const noGuardForCallbacks = true

// callbackTimes is a status callback receiver that records, for each
// callback, its message and status and when it arrived, and answers 500 to
// the accounts in fail (told apart by the AccountSid parameter), 200 to
// the others.
type callbackTimes struct {
	srv  *httptest.Server
	mu   sync.Mutex
	fail map[string]bool
	got  []callbackArrival
	byAc map[string]int // callbacks received, by AccountSid
}

type callbackArrival struct {
	account, message, status string
	at                       time.Time
}

func newCallbackTimes(t *testing.T, fail ...string) *callbackTimes {
	c := &callbackTimes{fail: map[string]bool{}, byAc: map[string]int{}}
	for _, a := range fail {
		c.fail[a] = true
	}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, _ := url.ParseQuery(string(body))
		c.mu.Lock()
		defer c.mu.Unlock()
		c.byAc[p.Get("AccountSid")]++
		if c.fail[p.Get("AccountSid")] {
			http.Error(w, "broken for this account", http.StatusInternalServerError)
			return
		}
		c.got = append(c.got, callbackArrival{p.Get("AccountSid"), p.Get("MessageSid"), p.Get("MessageStatus"), time.Now()})
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *callbackTimes) received(account string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byAc[account]
}

// waitDelays waits, until deadline, for a delivered callback of each message
// of sent (message SID -> when the request that made it was sent), and
// returns, for every callback of those messages that arrived, the time
// from that request to its arrival: an upper bound on the time from the
// status change (in the sandbox a message is delivered as it is made).
// missing counts the messages whose delivered callback did not arrive.
func (c *callbackTimes) waitDelays(sent map[string]time.Time, deadline time.Time) (delays []time.Duration, missing int) {
	for ; ; time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		delays, missing = delays[:0], len(sent)
		for _, a := range c.got {
			if at, ok := sent[a.message]; ok {
				delays = append(delays, max(a.at.Sub(at), 0))
				if a.status == "delivered" {
					missing--
				}
			}
		}
		c.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			slices.Sort(delays)
			return delays, missing
		}
	}
}

// p99 returns the 99th percentile of sorted delays (the largest, under 100
// of them).
func p99(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)*99+99)/100-1]
}

// sendWithCallback creates a message of who, to the i-th test number, with
// statusCallback, and returns its SID and when the request was sent.
func sendWithCallback(t *testing.T, s *testServer, who creds, i int, statusCallback string) (string, time.Time) {
	t.Helper()
	at := time.Now()
	r := call(t, "POST", s.URL+"/2010-04-01/Accounts/"+who.SID+"/Messages.json", who.SID, who.Token, "application/x-www-form-urlencoded",
		url.Values{"To": {fmt.Sprintf("+96279%07d", 100+i)}, "From": {"MyApp"}, "Body": {"hello"}, "StatusCallback": {statusCallback}}.Encode())
	if r.Status != 201 {
		t.Fatalf("send %d for %s: %d %s", i, who.SID, r.Status, r.Raw)
	}
	return r.str("sid"), at
}

// Four accounts whose callback receivers hang (they never answer while the
// test runs), each owed 32 callbacks at two receivers of its own, do not
// delay a fifth account's callbacks: no account has more than its share of
// the sender's 32 workers in flight, and a share is kept free for an
// account that arrives. Before, the four took 8 workers each (PerAccount),
// every worker, and the fifth account's callbacks waited for their POSTs
// to time out (10 s).
func TestWebhookFairShareHangingAccounts(t *testing.T) {
	quit := make(chan struct{})
	var mu sync.Mutex
	now, most := map[string]int{}, map[string]int{} // by AccountSid: POSTs in flight at the hanging receivers, and the most at once
	total, mostTotal := 0, 0
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, _ := url.ParseQuery(string(body))
		a := p.Get("AccountSid")
		mu.Lock()
		now[a]++
		most[a] = max(most[a], now[a])
		total++
		mostTotal = max(mostTotal, total)
		mu.Unlock()
		defer func() { mu.Lock(); now[a]--; total--; mu.Unlock() }()
		select {
		case <-quit:
		case <-r.Context().Done():
		}
	})
	var urls [4][2]string // each hanging account's two receivers
	for a := range urls {
		for i := range urls[a] {
			srv := httptest.NewServer(hang)
			t.Cleanup(srv.Close)
			urls[a][i] = srv.URL + "/status"
		}
	}
	fast := newCallbackTimes(t)
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.WebhookAllowPrivate = true
		c.CallbackRetry = 50 * time.Millisecond
		c.NoAbuseGuard = noGuardForCallbacks
	})
	t.Cleanup(func() { close(quit) }) // runs first: the server, then the receivers, stop without waiting for the hanging POSTs

	var hanging []creds
	n := 0
	for a := range urls {
		who := mustCreateAccount(t, s)
		hanging = append(hanging, who)
		for i := range 32 {
			sendWithCallback(t, s, who, n, urls[a][i%2])
			n++
		}
	}
	hangingNow := func() (each []int, sum int) {
		mu.Lock()
		defer mu.Unlock()
		for _, who := range hanging {
			each = append(each, now[who.SID])
		}
		return each, total
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if each, _ := hangingNow(); !slices.Contains(each, 0) {
			break
		}
		if time.Now().After(deadline) {
			each, _ := hangingNow()
			t.Fatalf("POSTs in flight at the hanging receivers, by account: %v; want some of each account's", each)
		}
	}
	time.Sleep(300 * time.Millisecond) // the rest of their callbacks claimed, and held
	each, sum := hangingNow()
	t.Logf("before the fifth account's messages, POSTs in flight at the hanging receivers, by account: %v (%d of the 32 workers)", each, sum)

	start := time.Now()
	sent := map[string]time.Time{}
	for range 30 {
		sid, at := sendWithCallback(t, s, creds{s.SID, s.Token}, n, fast.srv.URL+"/status")
		sent[sid] = at
		n++
		time.Sleep(20 * time.Millisecond)
	}
	delays, missing := fast.waitDelays(sent, start.Add(20*time.Second))
	if len(delays) == 0 {
		t.Fatalf("the fast account's receiver got no callback of its 30 messages in 20 s")
	}
	t.Logf("the fast account's %d callbacks (%d messages), from each message's request to the callback's arrival: median %v, p99 %v, max %v",
		len(delays), len(sent), delays[len(delays)/2], p99(delays), delays[len(delays)-1])
	mu.Lock()
	t.Logf("most POSTs in flight at once at the hanging receivers: %d in all; by account %v", mostTotal, most)
	mu.Unlock()
	if missing > 0 {
		t.Errorf("%d of the fast account's 30 messages had no delivered callback in 20 s", missing)
	}
	// Unfair, they waited for the hanging POSTs' 10 s timeouts. Fair, the
	// median is tens of ms; 3 s leaves room for one callback that waits a
	// poll of the sender (1 s) on a machine busy with the whole suite under
	// -race (seen once: p99 1.12 s, median 38 ms).
	if d := p99(delays); d >= 3*time.Second {
		t.Errorf("the fast account's callbacks: p99 %v behind four accounts whose receivers hang; want < 3 s (unfair, they wait for the 10 s timeouts)", d)
	}
	each, sum = hangingNow()
	if sum >= 32 || slices.Max(each) > 8 {
		t.Errorf("POSTs in flight at the hanging receivers, by account: %v; want at most 8 (PerAccount) each and a worker free", each)
	}
}

// Two accounts post callbacks to one receiver (host and port), a webhook
// relay both use. It answers 500 to account A's callbacks and 200 to B's.
// A's failures open A's circuit at that host (5 in a row, for 30 s); B's
// callbacks to the host keep arriving at once, and B's successes do not
// close A's circuit (A's callbacks get no POST meanwhile). Before, the
// circuit was the host's: B's callbacks waited for it to half open, and
// each half-open trial went to one of A's.
func TestWebhookCircuitPerAccount(t *testing.T) {
	logs := &syncbuf.Buffer{}
	s := mustServeLogging(t, nil, logs, func(c *ServeConfig) {
		c.LogLevel = "debug"
		c.WebhookAllowPrivate = true
		c.CallbackRetry = 50 * time.Millisecond
		c.NoAbuseGuard = noGuardForCallbacks
	})
	a, b := mustCreateAccount(t, s), creds{s.SID, s.Token}
	relay := newCallbackTimes(t, a.SID)
	host := strings.TrimPrefix(relay.srv.URL, "http://")

	for i := range 10 {
		sendWithCallback(t, s, a, i, relay.srv.URL+"/status")
	}
	// A's circuit is open once 5 of its POSTs (BreakAfter) failed and no
	// more come; POSTs begun before it opened may still be on their way.
	failedA := 0
	for deadline, stable := time.Now().Add(10*time.Second), time.Now(); failedA < 5 || time.Since(stable) < 300*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if n := relay.received(a.SID); n != failedA {
			failedA, stable = n, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's POSTs to the relay did not stop in 10 s (%d so far): its circuit did not open", failedA)
		}
	}
	t.Logf("A's POSTs to the relay, all failed: %d", failedA)
	opened := "account_sid=" + a.SID + " host=" + host
	var logged bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "circuit is open") {
			t.Logf("log: %s", line)
			logged = logged || strings.Contains(line, opened)
		}
	}
	if !logged {
		t.Errorf("the circuit's opening was not logged with %q", opened)
	}

	start := time.Now()
	sent := map[string]time.Time{}
	for i := range 20 {
		sid, at := sendWithCallback(t, s, b, 10+i, relay.srv.URL+"/status")
		sent[sid] = at
		time.Sleep(20 * time.Millisecond)
	}
	delays, missing := relay.waitDelays(sent, start.Add(15*time.Second))
	if len(delays) == 0 {
		t.Fatalf("B's callbacks: none of its 20 messages' reached the relay in 15 s (A's circuit there is open for 30 s)")
	}
	t.Logf("B's %d callbacks to the relay where A's circuit is open, from each message's request to the callback's arrival: median %v, p99 %v, max %v",
		len(delays), delays[len(delays)/2], p99(delays), delays[len(delays)-1])
	if missing > 0 {
		t.Errorf("%d of B's 20 messages had no delivered callback in 15 s", missing)
	}
	if d := p99(delays); d >= time.Second {
		t.Errorf("B's callbacks: p99 %v behind A's open circuit at the same host (its cool-down is 30 s); want < 1 s", d)
	}
	if n := relay.received(a.SID); n != failedA {
		t.Errorf("A's POSTs went from %d to %d while its circuit was open: B's successes closed it", failedA, n)
	}
}
