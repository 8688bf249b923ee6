package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testServer is an otpgate started in-process on a free loopback port.
type testServer struct {
	*Main
	URL        string
	SID, Token string
	stdout     *bytes.Buffer
}

var firstAccountRE = regexp.MustCompile(`Account SID: (AC[0-9a-f]{32})\s+Auth token:\s+([0-9a-f]{32})`)

// mustServe starts a server with a temp data dir; clock may be nil.
func mustServe(tb testing.TB, clock *fakeClock) *testServer {
	tb.Helper()
	return mustServeWith(tb, clock, func(*ServeConfig) {})
}

// response is a decoded JSON reply.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r response) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

func (r response) num(key string) int {
	f, _ := r.Body[key].(float64)
	return int(f)
}

// call sends a request with Basic auth (when sid != "") and decodes the JSON reply.
func call(tb testing.TB, method, u, sid, token, contentType string, body string) response {
	tb.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if sid != "" {
		req.SetBasicAuth(sid, token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		tb.Fatalf("%s %s: reply is not a JSON object: %v: %q", method, u, err, raw)
	}
	return r
}

func (s *testServer) postJSON(tb testing.TB, path string, v any) response {
	tb.Helper()
	b, _ := json.Marshal(v)
	return call(tb, "POST", s.URL+path, s.SID, s.Token, "application/json", string(b))
}

func (s *testServer) postForm(tb testing.TB, path string, vals url.Values) response {
	tb.Helper()
	return call(tb, "POST", s.URL+path, s.SID, s.Token, "application/x-www-form-urlencoded", vals.Encode())
}

func (s *testServer) send(tb testing.TB, service, to string) response {
	tb.Helper()
	return s.postJSON(tb, "/2fa/send", map[string]string{"service": service, "from": "MyApp", "to": to, "body": "Your verification code is: {code}"})
}

func (s *testServer) check(tb testing.TB, service, number, code string) response {
	tb.Helper()
	return s.postJSON(tb, "/2fa/verify", map[string]string{"service": service, "number": number, "code": code})
}

var codeRE = regexp.MustCompile(`\d{4,10}`)

// codes returns the codes in the sandbox inbox for number, newest first,
// waiting up to 5 s for at least want of them.
func (s *testServer) codes(tb testing.TB, number string, want int) []string {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := call(tb, "GET", s.URL+"/sandbox/messages?to="+url.QueryEscape(number), s.SID, s.Token, "", "")
		if r.Status != 200 {
			tb.Fatalf("sandbox: %d %s", r.Status, r.Raw)
		}
		msgs, _ := r.Body["messages"].([]any)
		if len(msgs) >= want || time.Now().After(deadline) {
			var out []string
			for _, m := range msgs {
				body, _ := m.(map[string]any)["body"].(string)
				out = append(out, codeRE.FindString(body))
			}
			if len(out) < want {
				tb.Fatalf("sandbox has %d messages for %s, want %d", len(out), number, want)
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wrongCode returns a code of the same length that is not any of codes.
func wrongCode(codes ...string) string {
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i)
		used := false
		for _, x := range codes {
			used = used || x == c
		}
		if !used {
			return c
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
