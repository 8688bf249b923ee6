// Package emailaddr parses the email addresses users type as a destination
// of codes, and masks them for logs. An address is a bare one (no display
// name, no comment, no angle brackets): an ASCII local part kept as given,
// and a domain in lower case and in its ASCII form (an internationalised
// domain is converted to punycode with IDNA's lookup rules, so
// user@bücher.example is user@xn--bcher-kva.example). It only parses: no
// I/O, no DNS.
package emailaddr

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits of an address (RFC 5321 4.5.3.1, with RFC 3696's errata: a path of
// 256 octets is an address of 254).
const (
	MaxLen      = 254 // the whole address, in its ASCII form
	MaxLocalLen = 64  // the part before @
)

// ErrTooLong is wrapped by the error of an address longer than accepted.
var ErrTooLong = errors.New("too long")

// Accepted says what an address field takes, for error messages.
const Accepted = "a bare email address such as user@example.com (no display name or angle brackets; an ASCII local part of at most 64 characters, a domain with a dot, internationalised domains accepted; at most 254 characters)"

// Looks reports whether s is meant as an email address rather than a phone
// number: it has an @.
func Looks(s string) bool { return strings.Contains(s, "@") }

// Parse checks s and returns the address as otpgate keeps and sends it.
func Parse(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("it is empty")
	}
	if !utf8.ValidString(s) {
		return "", errors.New("it is not valid UTF-8 text")
	}
	if len(s) > 4*MaxLen {
		return "", fmt.Errorf("it is %d bytes; at most %d characters are accepted: %w", len(s), MaxLen, ErrTooLong)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", errors.New("it has no @")
	}
	local, domain := s[:at], s[at+1:]
	if strings.ContainsAny(local, "\"<>()\\ ") || strings.ContainsAny(domain, "[]<>() ") {
		return "", fmt.Errorf("%q is not a bare address: give only user@domain, without a display name, quotes, comments or brackets", s)
	}
	if local == "" {
		return "", errors.New("the part before @ is empty")
	}
	for _, r := range local {
		if r >= utf8.RuneSelf || r < ' ' {
			return "", errors.New("the part before @ may use only ASCII letters, digits and ! # $ % & ' * + - / = ? ^ _ ` { | } ~ .")
		}
	}
	if len(local) > MaxLocalLen {
		return "", fmt.Errorf("the part before @ is %d characters; at most %d are accepted: %w", len(local), MaxLocalLen, ErrTooLong)
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || ascii == "" {
		return "", fmt.Errorf("the domain %q is not a valid domain name", domain)
	}
	ascii = strings.ToLower(ascii)
	if !strings.Contains(ascii, ".") || strings.HasSuffix(ascii, ".") {
		return "", fmt.Errorf("the domain %q has no dot: give a full domain such as example.com", domain)
	}
	// A top-level domain is at least two letters (or an IDN's xn--): this
	// refuses an IP address in place of a domain, and one-letter ones.
	if tld := ascii[strings.LastIndexByte(ascii, '.')+1:]; len(tld) < 2 || strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("the domain %q has no top-level domain of two or more letters: give a domain name such as example.com, not an IP address", domain)
	}
	addr := local + "@" + ascii
	// The syntax of the local part, and of the whole, by the standard
	// library's parser (RFC 5322's addr-spec); it must read as the
	// address itself, nothing more.
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return "", fmt.Errorf("%q is not a valid address: the part before @ may use letters, digits and ! # $ %% & ' * + - / = ? ^ _ ` { | } ~, and dots between them", s)
	}
	if len(addr) > MaxLen {
		return "", fmt.Errorf("it is %d characters; at most %d are accepted: %w", len(addr), MaxLen, ErrTooLong)
	}
	return addr, nil
}

// Domain is the domain of an address Parse returned ("" if it has none).
func Domain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return addr[at+1:]
}

// Mailbox is the mailbox an address Parse returned reaches, as limits
// count it: the local part in lower case and without a +tag
// (Victim+1@example.com and victim@example.com are one inbox at most
// providers), then the domain. Codes still go to the address as typed.
func Mailbox(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return strings.ToLower(addr)
	}
	local := addr[:at]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	return strings.ToLower(local) + addr[at:]
}

// Mask hides most of an address's local part for logs: its first character
// stays, and the domain: "j***@example.com".
func Mask(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "***"
	}
	local, domain := addr[:at], addr[at+1:]
	if len(domain) > MaxLen {
		domain = domain[:MaxLen]
	}
	first, _ := utf8.DecodeRuneInString(local)
	if local == "" || first == utf8.RuneError {
		return "***@" + domain
	}
	return string(first) + "***@" + domain
}
