package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// MustServeNoop starts ServeNoop on a loopback port for the test's lifetime
// and returns its base URL.
func MustServeNoop(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- ServeNoop(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		cancel()
		tb.Fatalf("ServeNoop: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			tb.Errorf("ServeNoop: %v", err)
		}
	})
	return "http://" + addr.String()
}

func testConfig(url string) Config {
	return Config{
		URL:         url,
		SID:         "AC0123456789",
		Token:       "secret-token",
		Concurrency: 4,
		Duration:    300 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
	}
}

func MustRun(tb testing.TB, cfg Config) Report {
	tb.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("Run: %v", err)
	}
	return rep
}

func TestRunAgainstNoop(t *testing.T) {
	rep := MustRun(t, testConfig(MustServeNoop(t)))

	if len(rep.Phases) != 2 || rep.Phases[0].Name != PhaseSend || rep.Phases[1].Name != PhaseVerify {
		t.Fatalf("phases = %+v, want send and verify", rep.Phases)
	}
	// The verify phase may end early, and must then say why: it checks each
	// number the send phase got a 201 for 4 times, and on a loaded machine
	// (CI runs packages side by side) a slow send phase leaves too few.
	endedEarly := 0
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "verify: ended early") {
			endedEarly++
		}
	}
	for _, p := range rep.Phases {
		t.Run(p.Name, func(t *testing.T) {
			if p.Requests <= 0 {
				t.Errorf("requests = %d, want > 0", p.Requests)
			}
			if len(p.Errors) != 0 {
				t.Errorf("errors = %v, want none", p.Errors)
			}
			if p.RPS <= 0 {
				t.Errorf("RPS = %v, want > 0", p.RPS)
			}
			if p.Duration != 300*time.Millisecond && !(p.Name == PhaseVerify && endedEarly == 1 && p.Duration < 300*time.Millisecond) {
				t.Errorf("duration = %v, want 300ms (notes %q)", p.Duration, rep.Notes)
			}
			if !(0 < p.P50 && p.P50 <= p.P90 && p.P90 <= p.P99 && p.P99 <= p.Max) {
				t.Errorf("percentiles out of order: p50 %v p90 %v p99 %v max %v", p.P50, p.P90, p.P99, p.Max)
			}
		})
	}
	if len(rep.Notes) != endedEarly {
		t.Errorf("notes = %q, want none but the verify phase's early end", rep.Notes)
	}
}

func TestRunRefusedCredentials(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":20003,"message":"Authenticate","more_info":"","status":401}`))
	}))
	defer srv.Close()

	_, err := Run(context.Background(), testConfig(srv.URL))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("Run error = %v, want ErrRefused", err)
	}
	if !strings.Contains(err.Error(), `"Authenticate"`) {
		t.Errorf("error %q does not carry the server's message", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("server got %d requests, want only the first", n)
	}
}

func TestRunUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	_, err = Run(context.Background(), testConfig("http://"+addr))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Run error = %v, want connection refused", err)
	}
}

func TestRunCountsRateLimited(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":20429,"message":"Too many requests","status":429}`))
			return
		}
		if r.URL.Path == "/2fa/send" {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = w.Write([]byte(`{"status":"pending"}`))
	}))
	defer srv.Close()

	rep := MustRun(t, testConfig(srv.URL))
	// The verify phase may end early, and must then say why: it checks each
	// number the send phase got a 201 for 4 times, and on a loaded machine
	// (CI runs packages side by side) a slow send phase leaves too few.
	endedEarly := 0
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "verify: ended early") {
			endedEarly++
		}
	}
	for _, p := range rep.Phases {
		t.Run(p.Name, func(t *testing.T) {
			got := p.Errors["HTTP 429"]
			if got == 0 || len(p.Errors) != 1 {
				t.Fatalf("errors = %v, want only HTTP 429", p.Errors)
			}
			// Every second request got a 429.
			if ratio := float64(got) / float64(p.Requests); ratio < 0.4 || ratio > 0.6 {
				t.Errorf("%d of %d requests were 429, want about half", got, p.Requests)
			}
		})
	}
	if !containsNote(rep.Notes, `send: HTTP 429: "Too many requests"`) {
		t.Errorf("notes = %q, want the 429 message", rep.Notes)
	}
}

// recorder is a fake otpgate that remembers where each send went and which
// numbers were verified.
type recorder struct {
	t         *testing.T
	mu        sync.Mutex
	sent      map[string]int
	verified  map[string]int
	sendLimit int // answer 429 after this many sends; 0 means never
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, sent: map[string]int{}, verified: map[string]int{}}
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if sid, token, ok := r.BasicAuth(); !ok || sid != "AC0123456789" || token != "secret-token" {
		rec.t.Errorf("basic auth = %q, %q, %v", sid, token, ok)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rec.t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]string
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil {
		rec.t.Errorf("%s body: %v", r.URL.Path, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if body["service"] != "bench" {
		rec.t.Errorf("service = %q", body["service"])
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	switch r.Method + " " + r.URL.Path {
	case "POST /2fa/send":
		if body["from"] != "OTPGate" || body["body"] != "Your code is {code}" {
			rec.t.Errorf("send body = %v", body)
		}
		if rec.sendLimit > 0 && len(rec.sent) >= rec.sendLimit {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		rec.sent[body["to"]]++
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"status":"pending"}`))
	case "POST /2fa/verify":
		if body["code"] != "000000" {
			rec.t.Errorf("verify body = %v", body)
		}
		rec.verified[body["number"]]++
		_, _ = w.Write([]byte(`{"status":"pending","valid":false}`))
	default:
		rec.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func validNumber(s string) bool {
	if len(s) != 13 || !strings.HasPrefix(s, "+96279") {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (rec *recorder) check(t *testing.T) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.sent) == 0 || len(rec.verified) == 0 {
		t.Fatalf("got %d sends and %d verifies, want some of each", len(rec.sent), len(rec.verified))
	}
	for to, n := range rec.sent {
		if !validNumber(to) {
			t.Errorf("send to %q, want +96279 and 7 digits", to)
		}
		if n != 1 {
			t.Errorf("%d sends to %s, want 1", n, to)
		}
	}
	for number, n := range rec.verified {
		if rec.sent[number] == 0 {
			t.Errorf("verify of %s, which was never sent", number)
		}
		if n > maxChecksPerNumber {
			t.Errorf("%d verifies of %s, want at most %d", n, number, maxChecksPerNumber)
		}
	}
}

func TestRunNumbers(t *testing.T) {
	rec := newRecorder(t)
	srv := httptest.NewServer(rec)
	defer srv.Close()

	rep := MustRun(t, testConfig(srv.URL))
	rec.check(t)
	for _, p := range rep.Phases {
		if len(p.Errors) != 0 {
			t.Errorf("%s errors = %v, want none", p.Name, p.Errors)
		}
	}
}

func TestRunVerifyRunsOutOfNumbers(t *testing.T) {
	rec := newRecorder(t)
	rec.sendLimit = 3
	srv := httptest.NewServer(rec)
	defer srv.Close()

	rep := MustRun(t, testConfig(srv.URL))
	rec.check(t)

	total := 0
	for _, n := range rec.verified {
		total += n
	}
	if want := 3 * maxChecksPerNumber; total != want {
		t.Errorf("%d verifies of 3 numbers, want %d", total, want)
	}
	verify := rep.Phases[1]
	if verify.Duration >= 300*time.Millisecond {
		t.Errorf("verify duration = %v, want it cut short", verify.Duration)
	}
	if len(verify.Errors) != 0 {
		t.Errorf("verify errors = %v, want none", verify.Errors)
	}
	if !containsNote(rep.Notes, "verify: ended early") {
		t.Errorf("notes = %q, want the early end explained", rep.Notes)
	}
}

func TestRunCancelled(t *testing.T) {
	url := MustServeNoop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cfg := testConfig(url)
	cfg.Duration = time.Minute

	start := time.Now()
	rep, err := Run(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run error = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v after cancellation", d)
	}
	if len(rep.Phases) != 1 || rep.Phases[0].Requests == 0 {
		t.Errorf("phases = %+v, want the partial send phase", rep.Phases)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no URL", func(c *Config) { c.URL = "" }, "must look like"},
		{"no scheme", func(c *Config) { c.URL = "localhost:8080" }, "must look like"},
		{"no token", func(c *Config) { c.Token = "" }, "required"},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "concurrency"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "duration"},
		{"unknown phase", func(c *Config) { c.Phases = []string{"send", "status"} }, "unknown phase"},
		{"verify first", func(c *Config) { c.Phases = []string{"verify", "send"} }, "needs a send phase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1")
			tt.change(&cfg)
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{URL: "http://h:1/", SID: "s", Token: "t"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "http://h:1" || cfg.Concurrency != 64 || cfg.Duration != 10*time.Second ||
		cfg.Warmup != time.Second || cfg.Service != "bench" || cfg.From != "OTPGate" ||
		strings.Join(cfg.Phases, ",") != "send,verify" {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, _ = Config{URL: "http://h:1", SID: "s", Token: "t", Warmup: -1}.withDefaults()
	if cfg.Warmup != 0 {
		t.Errorf("negative warmup became %v, want 0", cfg.Warmup)
	}
}

func TestSendNumbersWrap(t *testing.T) {
	r := &runner{numberOffset: numberSpace - 2}
	var got []string
	for range 4 {
		got = append(got, string(appendDigits7(nil, r.nextSendNumber())))
	}
	if want := "9999998,9999999,0000000,0000001"; strings.Join(got, ",") != want {
		t.Errorf("numbers = %v, want %s", got, want)
	}
}

func TestTransportReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection refused"},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "server closed the connection"},
		{errors.Join(errors.New("x"), context.DeadlineExceeded), "timeout"},
		{&net.OpError{Op: "read", Err: errors.New("something odd")}, "something odd"},
	}
	for _, tt := range tests {
		if got := transportReason(tt.err); got != tt.want {
			t.Errorf("transportReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func containsNote(notes []string, part string) bool {
	for _, n := range notes {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}
