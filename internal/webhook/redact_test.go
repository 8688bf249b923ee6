package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"plain", "https://hooks.example.com/status", "https://hooks.example.com/status"},
		{"query", "https://hooks.example.com/status?key=SECRET&x=1", "https://hooks.example.com/status"},
		{"fragment", "https://hooks.example.com/status#SECRET", "https://hooks.example.com/status"},
		{"user info", "https://user:SECRET@hooks.example.com/status", "https://hooks.example.com/status"},
		{"all of them", "http://u:SECRET@127.0.0.1:8080/a/b?key=SECRET#SECRET", "http://127.0.0.1:8080/a/b"},
		{"empty query", "https://hooks.example.com/status?", "https://hooks.example.com/status"},
		{"escaped path", "https://hooks.example.com/a%2Fb/c?key=SECRET", "https://hooks.example.com/a%2Fb/c"},
		{"IPv6", "http://[::1]:9000/cb?key=SECRET", "http://[::1]:9000/cb"},
		{"no path", "https://hooks.example.com?key=SECRET", "https://hooks.example.com"},
		{"unparsable", "http://[::1/cb?key=SECRET", "(unparsable URL)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactURL(tc.raw); got != tc.want {
				t.Errorf("redactURL(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestRedactError(t *testing.T) {
	const raw = "http://127.0.0.1:9/status?key=SECRET-KEY#frag-SECRET"
	signed := raw + "&bodySHA256=abc" // as SignJSON makes it
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"url.Error", &url.Error{Op: "Post", URL: raw, Err: errors.New("connection refused")}, `Post "http://127.0.0.1:9/status": connection refused`},
		{"wrapped url.Error", fmt.Errorf("sending: %w", &url.Error{Op: "Post", URL: raw, Err: errors.New("timeout")}), `sending: Post "http://127.0.0.1:9/status": timeout`},
		{"the URL in plain text", fmt.Errorf("cannot reach %s", raw), "cannot reach http://127.0.0.1:9/status"},
		{"only the query", errors.New("bad query key=SECRET-KEY"), "bad query [redacted]"},
		{"nothing to redact", errors.New("connection reset"), "connection reset"},
		{"nil", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := redactError(tc.err, raw, signed)
			if got != tc.want {
				t.Errorf("redactError = %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "SECRET") {
				t.Errorf("redactError = %q holds the secret", got)
			}
		})
	}
}

// A real client's error for a port nothing listens on names the URL whole;
// redacted, it keeps the host and path and loses the query.
func TestRedactErrorFromClient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	raw := "http://" + addr + "/status?key=PLANTED-SECRET"
	_, err = Policy{AllowPrivate: true}.Client(2*time.Second).Post(raw, "text/plain", nil)
	if err == nil || !strings.Contains(err.Error(), "PLANTED-SECRET") {
		t.Fatalf("the client's error %v does not name the URL; the test needs one that does", err)
	}
	got := redactError(err, raw)
	if strings.Contains(got, "PLANTED-SECRET") || !strings.Contains(got, "http://"+addr+"/status") {
		t.Errorf("redactError = %q, want the URL without its query", got)
	}
}
