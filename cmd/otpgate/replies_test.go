package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// rawRequest sends req over a plain connection (what a scanner sends, not
// what net/http would) and returns the status and body.
func rawRequest(t *testing.T, addr, req string) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the reply to %q: %v", req[:min(len(req), 60)], err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, resp.Header, b.String()
}

// Every reply is the standard JSON error, including what Go's server and
// mux would write themselves (a redirect for "..", 431 for large headers);
// the 404 names no routes; request ids are random.
func TestRepliesAreJSON(t *testing.T) {
	s := mustServe(t, nil)
	addr := s.Addr()
	isError := func(what string, status int, h http.Header, body string, want int) {
		t.Helper()
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
		}
		if status != want || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &e) != nil || e.Status != want || e.Code == 0 {
			t.Errorf("%s: %d %q %q, want the JSON error with status %d", what, status, h.Get("Content-Type"), body, want)
		}
	}
	st, h, body := rawRequest(t, addr, "GET /sandbox/../2fa/send HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	isError("a path with ..", st, h, body, 404)
	st, h, body = rawRequest(t, addr, "GET //healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	isError("a path with //", st, h, body, 404)
	big := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\nConnection: close\r\n\r\n"
	st, h, body = rawRequest(t, addr, big)
	isError("20 KiB of headers", st, h, body, 431)
	// What Go's server refuses before any handler runs.
	for _, c := range []struct {
		what, req string
		want      int
	}{
		{"a request without Host", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 400},
		{"a header line without a colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400},
		{"a malformed request line", "GET\r\nHost: x\r\n\r\n", 400},
		{"an unknown Transfer-Encoding", "POST /2fa/send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"HTTP/2.0 in a request line", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505},
	} {
		st, h, body = rawRequest(t, addr, c.req)
		isError(c.what, st, h, body, c.want)
	}
	st, h, body = rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
	if !strings.Contains(body, "Host") {
		t.Errorf("the 400 to a request without Host does not say why: %s", body)
	}
	st, h, body = rawRequest(t, addr, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	isError("an unknown path", st, h, body, 404)
	if strings.Contains(body, "/2fa") || strings.Contains(body, "/v2") {
		t.Errorf("the 404 lists routes: %s", body)
	}
	ids := map[string]bool{}
	for range 20 {
		r := call(t, "GET", s.URL+"/healthz", "", "", "", "")
		id := r.Header.Get("X-Request-Id")
		if len(id) != 21 || ids[id] {
			t.Fatalf("request id %q (seen: %v)", id, ids[id])
		}
		ids[id] = true
	}
}

// --debug-addr serves pprof without auth: it listens on loopback only,
// unless --debug-addr-public says otherwise.
func TestDebugAddrLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:0": true, "localhost:0": true, "[::1]:0": true, "0.0.0.0:0": false, ":0": false, "192.0.2.1:0": false} {
		if got := loopbackAddr(addr); got != ok {
			t.Errorf("loopbackAddr(%q) = %v", addr, got)
		}
	}
	m := &Main{Config: ServeConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Region: "JO", CodeLength: 6, CodeTTL: 600e9,
		LogLevel: "warn", LogFormat: "text", DebugAddr: "0.0.0.0:0"}, Stdout: new(strings.Builder), LogOutput: new(strings.Builder)}
	err := m.Run(t.Context())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "--debug-addr-public") {
		t.Fatalf("serve --debug-addr 0.0.0.0:0: %v, want a refusal naming --debug-addr-public", err)
	}
}
