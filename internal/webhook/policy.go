// Package webhook checks, sends and signs the HTTP callbacks otpgate makes to
// URLs its API clients give it (status callbacks, inbound messages).
//
// Those URLs come from outside, so the package keeps otpgate from being used
// to reach internal services (SSRF): ValidateURL refuses a URL whose host is
// or resolves to a non-public address before it is stored, and the Client's
// dialer checks the address it actually connects to, which also defeats DNS
// rebinding. Requests are signed the way Twilio signs its webhooks, so
// receivers can validate them with Twilio's own helper libraries.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength is the longest webhook URL ValidateURL accepts, in bytes.
const MaxURLLength = 2048

// allowPrivateHint ends every refusal so a developer knows the way out.
const allowPrivateHint = "otpgate refuses webhook targets in private, loopback, link-local, " +
	"carrier-grade NAT, multicast, documentation and other non-public ranges " +
	"unless started with --webhook-allow-private"

// ErrRefused is matched (errors.Is) by the errors for a webhook target whose
// address is in a refused range, whether found by ValidateURL or by the
// Client's dialer at connect time. A caller may treat it as permanent.
var ErrRefused = errors.New("webhook target address refused")

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Policy says which webhook targets are allowed.
type Policy struct {
	// AllowPrivate allows loopback, private, link-local and every other range
	// Refused names: for development and tests
	// (otpgate serve --webhook-allow-private).
	AllowPrivate bool

	// Resolver resolves host names in ValidateURL; nil means
	// net.DefaultResolver. The Client's dialer always resolves with the
	// system resolver and checks the address it connects to.
	Resolver Resolver
}

// ValidationError is the error ValidateURL returns for a URL it refuses.
type ValidationError struct {
	URL    string // the URL as given, with any password redacted and cut to 100 bytes when longer than MaxURLLength
	Reason string // why, naming the host where there is one

	err error // ErrRefused, a resolver error or nil
}

// Error returns "webhook URL " followed by the reason.
func (e *ValidationError) Error() string { return "webhook URL " + e.Reason }

// Unwrap returns ErrRefused when the host's address is in a refused range,
// the resolver's error when the host could not be resolved, else nil.
func (e *ValidationError) Unwrap() error { return e.err }

// ValidateURL checks a webhook URL given by an API client before it is
// stored. It must be an absolute http or https URL of at most MaxURLLength
// bytes with a host, an optional port (1-65535) and no user info. The host,
// an IP literal or a name resolved now with p.Resolver (bounded by ctx),
// must have no address in a range Refused names, unless p.AllowPrivate; in
// that case names are not resolved. Every error is a *ValidationError.
//
// A URL that passes can still be refused when a webhook is sent: the name may
// resolve elsewhere later, and the Client checks again at connect time.
func (p Policy) ValidateURL(ctx context.Context, raw string) error {
	invalid := func(err error, format string, args ...any) error {
		return &ValidationError{URL: displayURL(raw), Reason: fmt.Sprintf(format, args...), err: err}
	}
	if raw == "" {
		return invalid(nil, "is empty")
	}
	if len(raw) > MaxURLLength {
		return invalid(nil, "is %d bytes long; the limit is %d", len(raw), MaxURLLength)
	}
	if strings.TrimSpace(raw) != raw {
		return invalid(nil, "has leading or trailing white space")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return invalid(nil, "cannot be parsed: %v", err)
	}
	if u.User != nil {
		return invalid(nil, "contains user info (user:password@), which otpgate does not send; "+
			"receivers authenticate otpgate's webhooks by their X-Twilio-Signature header")
	}
	if u.Scheme == "" {
		return invalid(nil, "%q is not absolute; give a full URL starting with https:// or http://", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid(nil, "scheme %q is not supported; use https or http", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return invalid(nil, "%q has no host; write it as %s://host/path", raw, u.Scheme)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return invalid(nil, "port %q is not a number from 1 to 65535", port)
		}
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		if p.AllowPrivate {
			return nil
		}
		if refused, name := Refused(addr); refused {
			return invalid(ErrRefused, "host %s is a refused address (%s); %s", addr, name, allowPrivateHint)
		}
		return nil
	}
	if strings.HasPrefix(u.Host, "[") {
		return invalid(nil, "host %q is not a valid IPv6 address", host)
	}
	if reason := hostNameProblem(host); reason != "" {
		return invalid(nil, "host %q %s", host, reason)
	}
	if p.AllowPrivate {
		return nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return invalid(ctxErr, "host %q could not be resolved: %v", host, ctxErr)
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return invalid(err, "host %q does not exist (no DNS records found)", host)
		}
		return invalid(err, "host %q could not be resolved: %v", host, err)
	}
	if len(addrs) == 0 {
		return invalid(nil, "host %q has no addresses", host)
	}
	for _, addr := range addrs {
		if refused, name := Refused(addr); refused {
			return invalid(ErrRefused, "host %q resolves to %s, a refused address (%s); %s", host, addr, name, allowPrivateHint)
		}
	}
	return nil
}

// hostNameProblem says what is wrong with a host name that is not an IP
// literal, or returns "".
func hostNameProblem(host string) string {
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return "is not a valid host name"
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
			return "is not a valid host name: use letters, digits, '-' and '.' " +
				"(IDNA punycode, xn--, for international names) or an IP address"
		}
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "is not a valid host name: each dot-separated label must have 1 to 63 characters"
		}
	}
	// No top-level domain is numeric, but some resolvers read "2130706433",
	// "0x7f.1" or "127.1" as IPv4 addresses. Refuse them rather than guess.
	last := strings.ToLower(labels[len(labels)-1])
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return "looks like an IPv4 address in a non-standard form; write an IPv4 address as four decimal numbers (a.b.c.d)"
	}
	return ""
}

// displayURL returns raw with any password redacted, cut short when it is
// longer than MaxURLLength.
func displayURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		raw = u.Redacted()
	}
	if len(raw) > MaxURLLength {
		raw = strings.ToValidUTF8(raw[:100], "") + "..."
	}
	return raw
}
