package main

import (
	"bytes"
	"context"
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
// does not hold back callbacks to another receiver: each host has its own
// cap of POSTs in flight, and a callback waiting for its host's turn does
// not take one of the sender's workers. "Host" is host:port, so the two
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

	s := mustServeWith(t, nil, func(c *ServeConfig) { c.WebhookAllowPrivate = true; c.CallbackRetry = 50 * time.Millisecond })
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
		t.Fatalf("the slow receiver had at most %d callbacks in flight at once, want 1 to 4 (its host's cap)", slowMost)
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
	s := mustServeLogging(t, logs, func(c *ServeConfig) { c.WebhookAllowPrivate = true; c.CallbackRetry = 20 * time.Millisecond })
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

// mustServeLogging is mustServeWith with the log, at level debug, kept in logs.
func mustServeLogging(tb testing.TB, logs io.Writer, set func(*ServeConfig)) *testServer {
	tb.Helper()
	var out bytes.Buffer
	cfg := ServeConfig{
		Addr: "127.0.0.1:0", DataDir: tb.TempDir(), Region: "JO", CodeLength: 6, CodeTTL: 10 * time.Minute,
		LogLevel: "debug", LogFormat: "text",
	}
	set(&cfg)
	m := &Main{Config: cfg, Stdout: &out, LogOutput: logs}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		tb.Fatalf("start otpgate: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	sm := firstAccountRE.FindStringSubmatch(out.String())
	if sm == nil {
		tb.Fatalf("first start printed no account:\n%s", out.String())
	}
	return &testServer{Main: m, URL: "http://" + m.Addr(), SID: sm[1], Token: sm[2], stdout: &out}
}
