package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newCountingServer starts a server on 127.0.0.1 that answers 200 "ok" and
// counts the requests and connections it sees.
func newCountingServer(t *testing.T) (srv *httptest.Server, requests, conns *atomic.Int64) {
	t.Helper()
	requests, conns = new(atomic.Int64), new(atomic.Int64)
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, requests, conns
}

func TestClientRefusesLoopbackAtConnect(t *testing.T) {
	srv, requests, conns := newCountingServer(t)
	resp, err := Policy{}.Client(5 * time.Second).Get(srv.URL + "/hook")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s succeeded; want the loopback address refused at connect time", srv.URL)
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, ErrRefused) {
		t.Errorf("error %v does not match ErrRefused", err)
	}
	for _, want := range []string{"127.0.0.1", "loopback", "refused", "--webhook-allow-private"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if n, c := requests.Load(), conns.Load(); n != 0 || c != 0 {
		t.Errorf("server saw %d requests on %d connections; want none", n, c)
	}
}

func TestClientAllowPrivate(t *testing.T) {
	srv, requests, conns := newCountingServer(t)
	client := Policy{AllowPrivate: true}.Client(5 * time.Second)
	for range 3 {
		resp, err := client.Get(srv.URL + "/hook")
		if err != nil {
			t.Fatalf("GET with AllowPrivate: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Fatalf("GET = %d %q; want 200 \"ok\"", resp.StatusCode, body)
		}
	}
	if n, c := requests.Load(), conns.Load(); n != 3 || c != 1 {
		t.Errorf("server saw %d requests on %d connections; want 3 on 1 (keep-alive)", n, c)
	}
}

// TestClientDNSRebinding: the name resolves to a public address when the URL
// is validated, and to loopback when the webhook is sent. The fake resolver
// plays the first answer; the dialer's own resolution of "localhost"
// (/etc/hosts, no network) plays the second.
func TestClientDNSRebinding(t *testing.T) {
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || len(addrs) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	for _, a := range addrs {
		if !a.IsLoopback() {
			t.Skipf("localhost resolves to %s here, not only loopback", a)
		}
	}
	srv, requests, _ := newCountingServer(t)
	port := netip.MustParseAddrPort(srv.Listener.Addr().String()).Port()
	hookURL := "http://localhost:" + strconv.Itoa(int(port)) + "/hook"

	p := Policy{Resolver: &fakeResolver{hosts: map[string][]string{"localhost": {"93.184.216.34"}}}}
	if err := p.ValidateURL(context.Background(), hookURL); err != nil {
		t.Fatalf("ValidateURL(%q) with a public answer = %v; want nil", hookURL, err)
	}
	resp, err := p.Client(5 * time.Second).Get(hookURL)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s succeeded; want it refused at connect time", hookURL)
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error = %v; want ErrRefused naming the loopback range", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("server saw %d requests; want none", n)
	}

	// The same URL goes through when private targets are allowed.
	resp, err = Policy{AllowPrivate: true}.Client(5 * time.Second).Get(hookURL)
	if err != nil {
		t.Fatalf("GET %s with AllowPrivate: %v", hookURL, err)
	}
	resp.Body.Close()
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	resp, err := Policy{AllowPrivate: true}.Client(5*time.Second).Post(srv.URL+"/hook", "application/x-www-form-urlencoded", strings.NewReader("MessageStatus=delivered"))
	if err != nil {
		t.Fatalf("POST: %v; want the 302 returned as the response", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %d; want 302", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/elsewhere" {
		t.Errorf("Location = %q; want /elsewhere", loc)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("redirect target was requested %d times; want 0", n)
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	start := time.Now()
	resp, err := Policy{AllowPrivate: true}.Client(100 * time.Millisecond).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("GET of a hanging server succeeded; want a timeout")
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("timed out after %v; want about 100ms", elapsed)
	}
}

func TestClientTransport(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://10.0.0.1:3128")
	t.Setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
	for _, p := range []Policy{{}, {AllowPrivate: true}} {
		c := p.Client(0)
		if c.Timeout != DefaultTimeout {
			t.Errorf("Client(0).Timeout = %v; want %v", c.Timeout, DefaultTimeout)
		}
		tr, ok := c.Transport.(*http.Transport)
		if !ok {
			t.Fatalf("Transport is %T; want *http.Transport", c.Transport)
		}
		if tr.Proxy != nil {
			t.Error("Transport.Proxy is set; want no proxy from the environment")
		}
		if tr.DisableKeepAlives {
			t.Error("keep-alives are disabled")
		}
		if tr.TLSClientConfig != nil {
			t.Error("TLSClientConfig is set; want the default")
		}
	}
}
