package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// countingServer is an httptest server that counts the connections it
// accepted and records each request's body.
type countingServer struct {
	*httptest.Server
	conns atomic.Int64
	mu    sync.Mutex
	got   []string // "METHOD PATH BODY" per request
}

func newCountingServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		s.mu.Lock()
		s.got = append(s.got, r.Method+" "+r.URL.Path+" "+string(body))
		s.mu.Unlock()
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// newTestClient returns a raw client for POST /2fa/send with a body that
// ends in the seven digits.
func newTestClient(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	body := []byte(`{"to":"+962790000000"}`)
	req, at := buildRequest(addr, "/2fa/send", []string{"Content-Type: application/json"}, body, len(`{"to":"+96279`))
	c := &rawClient{addr: addr, req: req, digits: at}
	tb.Cleanup(c.close)
	return c
}

func mustDo(tb testing.TB, c *rawClient, n uint32, expect int) int {
	tb.Helper()
	c.setNumber(n)
	st, err := c.do(context.Background(), expect)
	if err != nil {
		tb.Fatalf("request %d: %v", n, err)
	}
	return st
}

func TestRawClientKeepAlive(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"status":"pending"}`))
	})
	c := newTestClient(t, s.Listener.Addr().String())
	for i := range 100 {
		if st := mustDo(t, c, uint32(1234500+i), 201); st != 201 {
			t.Fatalf("status %d, want 201", st)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections for 100 requests, want 1", n)
	}
	got := s.requests()
	if len(got) != 100 || got[0] != `POST /2fa/send {"to":"+962791234500"}` || got[99] != `POST /2fa/send {"to":"+962791234599"}` {
		t.Errorf("requests = %q ... %q", got[0], got[len(got)-1])
	}
}

// Bodies of every size, with and without a length, are read to their end,
// so the next answer on the connection parses.
func TestRawClientBodies(t *testing.T) {
	big := strings.Repeat("x", 100_000) // larger than the read buffer
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		status  int
		body    string // captured: the start of the body, when unexpected
	}{
		{"empty", func(w http.ResponseWriter) { w.WriteHeader(201) }, 201, ""},
		{"content-length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "11")
			w.WriteHeader(201)
			_, _ = io.WriteString(w, "hello world")
		}, 201, ""},
		{"large", func(w http.ResponseWriter) {
			w.WriteHeader(201)
			_, _ = io.WriteString(w, big)
		}, 201, ""},
		{"chunked", func(w http.ResponseWriter) {
			w.WriteHeader(201)
			for range 3 {
				_, _ = io.WriteString(w, "chunk;")
				w.(http.Flusher).Flush()
			}
		}, 201, ""},
		{"no content", func(w http.ResponseWriter) { w.WriteHeader(204) }, 204, ""},
		{"error captured", func(w http.ResponseWriter) {
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"message":"boom"}`)
		}, 500, `{"message":"boom"}`},
		{"large error captured in part", func(w http.ResponseWriter) {
			w.WriteHeader(502)
			_, _ = io.WriteString(w, big)
		}, 502, big[:maxCapture]},
		{"chunked error captured", func(w http.ResponseWriter) {
			w.WriteHeader(429)
			_, _ = io.WriteString(w, "too ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "many")
		}, 429, "too many"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { tt.handler(w) })
			c := newTestClient(t, s.Listener.Addr().String())
			for i := range 3 {
				if st := mustDo(t, c, uint32(i), 201); st != tt.status {
					t.Fatalf("status %d, want %d", st, tt.status)
				}
				if string(c.body) != tt.body {
					t.Fatalf("captured body %.40q (%d bytes), want %.40q (%d bytes)", c.body, len(c.body), tt.body, len(tt.body))
				}
			}
			if n := s.conns.Load(); n != 1 {
				t.Errorf("%d connections for 3 requests, want 1", n)
			}
		})
	}
}

func TestRawClientConnectionClose(t *testing.T) {
	s := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(201)
	})
	c := newTestClient(t, s.Listener.Addr().String())
	for i := range 5 {
		if st := mustDo(t, c, uint32(i), 201); st != 201 {
			t.Fatalf("status %d", st)
		}
	}
	if n := s.conns.Load(); n != 5 {
		t.Errorf("%d connections for 5 requests each answered with Connection: close, want 5", n)
	}
}

// rawServer serves each connection with handle, on a plain TCP listener.
func rawServer(t *testing.T, handle func(conn net.Conn, br *bufio.Reader, i int)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for i := 0; ; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				handle(conn, bufio.NewReader(conn), i)
			})
		}
	})
	return ln.Addr().String()
}

// readRequest reads one request off br, or returns false.
func readRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, req.Body)
	return true
}

// A server that closes the connection: the request fails with an error
// transportReason names, and the next one dials again.
func TestRawClientServerCloses(t *testing.T) {
	tests := []struct {
		name   string
		answer string // written before closing; "" closes at once
		reason string
	}{
		{"before answering", "", "server closed the connection"},
		{"in the head", "HTTP/1.1 201 Created\r\nContent-Le", "server closed the connection"},
		{"in the body", "HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc", "server closed the connection"},
		{"in a chunk", "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "server closed the connection"},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", "malformed HTTP response"},
		{"bad length", "HTTP/1.1 201 Created\r\nContent-Length: x\r\n\r\n", "malformed HTTP response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first connection answers one request, then breaks
			// the second as the case says; later ones answer.
			addr := rawServer(t, func(conn net.Conn, br *bufio.Reader, i int) {
				for k := 0; readRequest(br); k++ {
					if i == 0 && k == 1 {
						_, _ = io.WriteString(conn, tt.answer)
						return
					}
					_, _ = io.WriteString(conn, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
				}
			})
			c := newTestClient(t, addr)
			mustDo(t, c, 1, 201)
			_, err := c.do(context.Background(), 201)
			if err == nil {
				t.Fatal("request on a broken connection succeeded")
			}
			if got := transportReason(err); got != tt.reason {
				t.Errorf("transportReason(%v) = %q, want %q", err, got, tt.reason)
			}
			if st := mustDo(t, c, 3, 201); st != 201 {
				t.Errorf("after the error: status %d, want 201 on a new connection", st)
			}
		})
	}
}

// HTTP/1.0 answers, and answers without a length, end with the connection.
func TestRawClientHTTP10(t *testing.T) {
	var conns atomic.Int64
	addr := rawServer(t, func(conn net.Conn, br *bufio.Reader, i int) {
		conns.Add(1)
		if readRequest(br) {
			_, _ = io.WriteString(conn, "HTTP/1.0 200 OK\r\n\r\nall of it")
		}
	})
	c := newTestClient(t, addr)
	for i := range 3 {
		if st := mustDo(t, c, uint32(i), 201); st != 200 || string(c.body) != "all of it" {
			t.Fatalf("status %d body %q", st, c.body)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

func TestRawClientInterrupt(t *testing.T) {
	addr := rawServer(t, func(conn net.Conn, br *bufio.Reader, i int) {
		readRequest(br)
		_, _ = io.Copy(io.Discard, br) // never answers
	})
	c := newTestClient(t, addr)
	errc := make(chan error, 1)
	go func() {
		_, err := c.do(context.Background(), 201)
		errc <- err
	}()
	stop := c.interruptOn(context.Background(), 0)
	if err := <-errc; !errors.Is(err, errInterrupted) {
		t.Fatalf("interrupted request: %v, want errInterrupted", err)
	}
	stop()
	if c.conn != nil || c.isInterrupted() {
		t.Error("client not reset after the interrupt")
	}
}

func TestRawClientRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, addr)
	_, err = c.do(context.Background(), 201)
	if got := transportReason(err); got != "connection refused" {
		t.Errorf("transportReason(%v) = %q", err, got)
	}
}

// A request on a kept-alive connection allocates nothing. (The server,
// in the same process, reads the fixed-size request and writes a canned
// answer without allocating either.)
func TestRawClientAllocs(t *testing.T) {
	var reqLen atomic.Int64
	addr := rawServer(t, func(conn net.Conn, br *bufio.Reader, i int) {
		buf := make([]byte, reqLen.Load())
		answer := []byte("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
		for {
			if _, err := io.ReadFull(br, buf); err != nil {
				return
			}
			if _, err := conn.Write(answer); err != nil {
				return
			}
		}
	})
	c := newTestClient(t, addr)
	reqLen.Store(int64(len(c.req)))
	mustDo(t, c, 0, 201)
	n := uint32(0)
	allocs := testing.AllocsPerRun(200, func() {
		n++
		mustDo(t, c, n, 201)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}

func TestRunCountsStatuses(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		switch {
		case k == 1 || k%3 == 0:
			w.WriteHeader(http.StatusCreated) // the probe, and a third of the rest
		case k%3 == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprint(w, `{"message":"busy"}`)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.Phases = []string{PhaseSend}
	rep := MustRun(t, cfg)
	p := rep.Phases[0]
	if len(p.Errors) != 2 || p.Errors["HTTP 503"] == 0 || p.Errors["status 200"] == 0 {
		t.Fatalf("errors = %v, want HTTP 503 and status 200", p.Errors)
	}
	if bad := p.Errors["HTTP 503"] + p.Errors["status 200"]; bad*3 < p.Requests*2-6 || bad*3 > p.Requests*2+6 {
		t.Errorf("%d of %d requests counted as errors, want two thirds", bad, p.Requests)
	}
	if !containsNote(rep.Notes, `send: HTTP 503: "busy"`) {
		t.Errorf("notes = %q, want the 503's message", rep.Notes)
	}
}

// The answer parser reads whatever the server sends: it must not panic,
// loop, or keep more than maxCapture bytes of a body.
func FuzzReadAnswer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nboom\r\n0\r\nTrailer: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nX-Long: " + strings.Repeat("a", 100) + "\r\n\r\n",
		"HTTP/1.1 200 OK\n\nno CR",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// A small buffer reaches the paths for over-long lines.
		c := &rawClient{br: bufio.NewReaderSize(strings.NewReader(string(b)), 16)}
		for range 3 {
			var h respHead
			if readHead(c.br, &h) != nil {
				return
			}
			if h.status < 0 || h.status > 999 {
				t.Fatalf("status %d", h.status)
			}
			if c.readBody(&h, true) != nil {
				return
			}
			if len(c.body) > maxCapture {
				t.Fatalf("captured %d bytes", len(c.body))
			}
		}
	})
}
