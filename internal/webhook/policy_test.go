package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a map and records the names asked; a name not in
// the map does not exist. It never touches the network.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]string
	asked []string
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, host)
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: host}
	}
	ips, ok := r.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var addrs []netip.Addr
	for _, s := range ips {
		addrs = append(addrs, netip.MustParseAddr(s))
	}
	return addrs, nil
}

func (r *fakeResolver) lookups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.asked...)
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{hosts: map[string][]string{
		"localhost":            {"127.0.0.1", "::1"},
		"evil.example":         {"10.0.0.1"},
		"mixed.example":        {"93.184.216.34", "192.168.0.10"},
		"metadata.example":     {"169.254.169.254"},
		"v6private.example":    {"fd00::5"},
		"nat64.example":        {"64:ff9b::7f00:1"},
		"hooks.example.com":    {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
		"mapped.example":       {"::ffff:10.0.0.1"},
		"nothing.example":      {},
		"hooks.example.com.":   {"93.184.216.34"},
		"under_score.example":  {"93.184.216.34"},
		"xn--mgbh0fb.example":  {"93.184.216.34"},
		"api-7.hooks.example":  {"93.184.216.34"},
		"12.example":           {"93.184.216.34"},
		"a.example":            {"93.184.216.34"},
		"AbC.Example":          {"93.184.216.34"},
		"hooks.example.com:80": {"10.0.0.1"}, // must never be asked: port is not part of the host
	}}
}

func TestValidateURL(t *testing.T) {
	longURL := "https://hooks.example.com/" + strings.Repeat("a", MaxURLLength)
	maxURL := "https://hooks.example.com/"
	maxURL += strings.Repeat("a", MaxURLLength-len(maxURL))

	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		wantErr      []string // substrings of the error; nil means valid
		refused      bool     // error matches ErrRefused
	}{
		// shape
		{name: "https public name", url: "https://hooks.example.com/status?x=1"},
		{name: "http with port", url: "http://hooks.example.com:8080/status"},
		{name: "upper-case scheme", url: "HTTPS://hooks.example.com/"},
		{name: "fragment kept", url: "https://hooks.example.com/status#rc=5"},
		{name: "trailing dot", url: "https://hooks.example.com./"},
		{name: "underscore label", url: "https://under_score.example/"},
		{name: "punycode", url: "https://xn--mgbh0fb.example/"},
		{name: "numeric first label", url: "https://12.example/"},
		{name: "mixed-case host", url: "https://AbC.Example/"},
		{name: "exactly max length", url: maxURL},
		{name: "ftp scheme", url: "ftp://hooks.example.com/file", wantErr: []string{`scheme "ftp" is not supported`}},
		{name: "javascript scheme", url: "javascript:alert(1)", wantErr: []string{`scheme "javascript"`}},
		{name: "file scheme", url: "file:///etc/passwd", wantErr: []string{`scheme "file"`}},
		{name: "relative path", url: "/status", wantErr: []string{"not absolute"}},
		{name: "scheme-relative", url: "//hooks.example.com/status", wantErr: []string{"not absolute"}},
		{name: "bare host", url: "hooks.example.com/status", wantErr: []string{"not absolute"}},
		{name: "empty", url: "", wantErr: []string{"is empty"}},
		{name: "missing host", url: "http:///status", wantErr: []string{"has no host"}},
		{name: "opaque", url: "http:hooks.example.com", wantErr: []string{"has no host"}},
		{name: "port only", url: "http://:8080/x", wantErr: []string{"has no host"}},
		{name: "user info", url: "https://user:secret@hooks.example.com/", wantErr: []string{"user info"}},
		{name: "user only", url: "https://user@hooks.example.com/", wantErr: []string{"user info"}},
		{name: "too long", url: longURL, wantErr: []string{"bytes long", "2048"}},
		{name: "port zero", url: "http://hooks.example.com:0/", wantErr: []string{`port "0"`}},
		{name: "port too big", url: "http://hooks.example.com:65536/", wantErr: []string{`port "65536"`}},
		{name: "bad port", url: "http://hooks.example.com:http/", wantErr: []string{"cannot be parsed"}},
		{name: "white space", url: " https://hooks.example.com/", wantErr: []string{"white space"}},
		{name: "control char", url: "https://hooks.example.com/\n", wantErr: []string{"white space"}},
		{name: "bad host chars", url: "https://hooks!.example.com/", wantErr: []string{"not a valid host name"}},
		{name: "empty label", url: "https://hooks..example.com/", wantErr: []string{"label"}},
		{name: "decimal IPv4", url: "http://2130706433/", wantErr: []string{"non-standard form"}},
		{name: "hex IPv4", url: "http://0x7f.0.0.1/", wantErr: []string{"non-standard form"}},
		{name: "short IPv4", url: "http://127.1/", wantErr: []string{"non-standard form"}},
		{name: "octal IPv4", url: "http://0177.0.0.1/", wantErr: []string{"non-standard form"}},
		{name: "unknown name", url: "https://nowhere.example/", wantErr: []string{`"nowhere.example" does not exist`}},
		{name: "no addresses", url: "https://nothing.example/", wantErr: []string{"has no addresses"}},

		// refused literals and names
		{name: "loopback literal with port", url: "http://127.0.0.1:8080/x", refused: true,
			wantErr: []string{"127.0.0.1", "loopback", "--webhook-allow-private"}},
		{name: "localhost", url: "http://localhost/", refused: true,
			wantErr: []string{`"localhost" resolves to 127.0.0.1`, "loopback", "--webhook-allow-private"}},
		{name: "v6 loopback", url: "http://[::1]/", refused: true, wantErr: []string{"::1", "loopback"}},
		{name: "v6 loopback with port", url: "http://[::1]:9000/", refused: true, wantErr: []string{"loopback"}},
		{name: "private literal", url: "http://10.1.2.3/", refused: true, wantErr: []string{"10.1.2.3", "private 10.0.0.0/8"}},
		{name: "metadata literal", url: "http://169.254.169.254/latest", refused: true,
			wantErr: []string{"169.254.169.254", "cloud metadata service"}},
		{name: "mapped literal", url: "http://[::ffff:10.0.0.1]/", refused: true, wantErr: []string{"private"}},
		{name: "mapped literal hex", url: "http://[::ffff:a00:1]/", refused: true, wantErr: []string{"private"}},
		{name: "nat64 literal", url: "http://[64:ff9b::a9fe:a9fe]/", refused: true, wantErr: []string{"NAT64", "169.254.169.254"}},
		{name: "6to4 literal", url: "http://[2002:7f00:1::1]/", refused: true, wantErr: []string{"6to4", "127.0.0.1"}},
		{name: "link-local zone literal", url: "http://[fe80::1%25eth0]/", refused: true, wantErr: []string{"link-local"}},
		{name: "unspecified", url: "http://0.0.0.0:8080/", refused: true, wantErr: []string{"unspecified"}},
		{name: "CGNAT literal", url: "http://100.64.1.1/", refused: true, wantErr: []string{"carrier-grade NAT"}},
		{name: "percent-encoded host", url: "http://%31%32%37.0.0.1/", wantErr: []string{"cannot be parsed"}},
		{name: "name to private", url: "https://evil.example/hook", refused: true,
			wantErr: []string{`host "evil.example" resolves to 10.0.0.1, a refused address (private 10.0.0.0/8)`, "--webhook-allow-private"}},
		{name: "one of several addresses private", url: "https://mixed.example/", refused: true,
			wantErr: []string{"192.168.0.10", "private"}},
		{name: "name to metadata", url: "http://metadata.example/", refused: true, wantErr: []string{"cloud metadata"}},
		{name: "name to ULA", url: "http://v6private.example/", refused: true, wantErr: []string{"fd00::5", "unique local"}},
		{name: "name to nat64 loopback", url: "http://nat64.example/", refused: true, wantErr: []string{"NAT64", "127.0.0.1"}},
		{name: "name to mapped private", url: "http://mapped.example/", refused: true, wantErr: []string{"private"}},

		// public literals
		{name: "public v4 literal", url: "https://8.8.8.8/hook"},
		{name: "public v6 literal", url: "https://[2606:4700::1111]:8443/hook"},

		// AllowPrivate
		{name: "allow loopback literal", url: "http://127.0.0.1:8080/x", allowPrivate: true},
		{name: "allow localhost", url: "http://localhost/", allowPrivate: true},
		{name: "allow v6 loopback", url: "http://[::1]/", allowPrivate: true},
		{name: "allow private literal", url: "http://10.1.2.3/", allowPrivate: true},
		{name: "allow metadata literal", url: "http://169.254.169.254/latest", allowPrivate: true},
		{name: "allow name to private", url: "https://evil.example/hook", allowPrivate: true},
		{name: "allow still checks scheme", url: "ftp://127.0.0.1/", allowPrivate: true, wantErr: []string{"scheme"}},
		{name: "allow still refuses user info", url: "http://u:p@127.0.0.1/", allowPrivate: true, wantErr: []string{"user info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resolver := newFakeResolver()
			p := Policy{AllowPrivate: tt.allowPrivate, Resolver: resolver}
			err := p.ValidateURL(context.Background(), tt.url)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ValidateURL(%q) = %v; want nil", tt.url, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateURL(%q) = nil; want an error containing %q", tt.url, tt.wantErr)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("ValidateURL(%q) error is %T, want *ValidationError", tt.url, err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("ValidateURL(%q) = %q; want it to contain %q", tt.url, err, want)
				}
			}
			if got := errors.Is(err, ErrRefused); got != tt.refused {
				t.Errorf("errors.Is(err, ErrRefused) = %v; want %v", got, tt.refused)
			}
			if strings.Contains(verr.URL, "secret") {
				t.Errorf("ValidationError.URL = %q leaks the password", verr.URL)
			}
			if len(verr.URL) > 200 {
				t.Errorf("ValidationError.URL is %d bytes; want it cut short", len(verr.URL))
			}
		})
	}
}

func TestValidateURLResolvesOnlyNames(t *testing.T) {
	for _, raw := range []string{"http://127.0.0.1/", "https://8.8.8.8/", "http://[::1]/", "ftp://evil.example/", "https://hooks.example.com:80/"} {
		resolver := newFakeResolver()
		_ = Policy{Resolver: resolver}.ValidateURL(context.Background(), raw)
		for _, host := range resolver.lookups() {
			if host != "hooks.example.com" {
				t.Errorf("ValidateURL(%q) looked up %q", raw, host)
			}
		}
	}
	resolver := newFakeResolver()
	_ = Policy{AllowPrivate: true, Resolver: resolver}.ValidateURL(context.Background(), "https://evil.example/")
	if got := resolver.lookups(); len(got) != 0 {
		t.Errorf("with AllowPrivate, ValidateURL looked up %q; want no lookups", got)
	}
}

func TestValidateURLCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Policy{Resolver: newFakeResolver()}.ValidateURL(ctx, "https://hooks.example.com/")
	var verr *ValidationError
	if !errors.As(err, &verr) || !errors.Is(err, context.Canceled) {
		t.Fatalf("ValidateURL with a canceled ctx = %v; want a *ValidationError matching context.Canceled", err)
	}
}

func TestValidationErrorRedactsPassword(t *testing.T) {
	raw := "https://user:hunter2@hooks.example.com/"
	err := Policy{Resolver: newFakeResolver()}.ValidateURL(context.Background(), raw)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("ValidateURL(%q) = %v; want *ValidationError", raw, err)
	}
	if strings.Contains(verr.URL, "hunter2") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: URL=%q, Error()=%q", verr.URL, err)
	}
}

// FuzzValidateURL: any URL a client sends is accepted or refused without a
// panic; what is accepted is http(s) with a host and no user info, and (not
// allowing private) never a literal refused address.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://example.com/cb", "http://127.0.0.1:8080/x", "http://[::ffff:10.0.0.1]/", "http://u:p@h/", "ftp://h/", "http://0x7f.1/", "http://%zz/"} {
		f.Add(s)
	}
	p := Policy{Resolver: fuzzResolver{}}
	f.Fuzz(func(t *testing.T, raw string) {
		err := p.ValidateURL(context.Background(), raw)
		if err != nil {
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		if a, aerr := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); aerr == nil {
			if bad, _ := Refused(a); bad {
				t.Fatalf("accepted %q, a refused address", raw)
			}
		}
	})
}

// fuzzResolver answers every name with a public address, without DNS.
type fuzzResolver struct{}

func (fuzzResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
}
