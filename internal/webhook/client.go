package webhook

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultTimeout is the per-request timeout Client uses when given none; it
// is Twilio's default webhook timeout.
const DefaultTimeout = 15 * time.Second

// DefaultDialTimeout bounds connecting (TCP) to a webhook's host, well
// within a request's timeout, so a host that drops connection attempts
// fails fast.
const DefaultDialTimeout = 3 * time.Second

// Client returns an *http.Client for sending webhooks.
//
// Unless p.AllowPrivate, its dialer checks the address each connection is
// actually made to (net.Dialer.Control) with Refused, so a host name that
// resolved to a public address when its URL was validated and resolves to a
// private one now (DNS rebinding) is refused at connect time with an error
// matching ErrRefused. Each request, body included, must finish within
// timeout (DefaultTimeout when timeout <= 0), and connecting within
// DefaultDialTimeout or timeout, the shorter. Redirects are not followed: a
// 3xx answer is returned as the response, and the caller counts it as a
// failure. No proxy is taken from the environment; connections are kept
// alive and reused; TLS uses the default configuration.
func (p Policy) Client(timeout time.Duration) *http.Client {
	return p.client(timeout, DefaultDialTimeout)
}

// client is Client with the time to connect bounded by dialTimeout (or
// timeout, when shorter).
func (p Policy) client(timeout, dialTimeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: min(dialTimeout, timeout), KeepAlive: 30 * time.Second}
	if !p.AllowPrivate {
		dialer.Control = refuseControl
	}
	transport := &http.Transport{
		Proxy:                  nil, // never HTTP_PROXY: a proxy would dial for us, unchecked
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// refuseControl runs after a socket is created and before it connects:
// address is the IP and port it will connect to.
func refuseControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check %s address %q: %v", ErrRefused, network, address, err)
	}
	if refused, name := Refused(ap.Addr()); refused {
		return fmt.Errorf("%w: %s is in a refused range (%s); %s", ErrRefused, ap.Addr(), name, allowPrivateHint)
	}
	return nil
}
