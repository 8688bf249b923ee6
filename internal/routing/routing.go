// Package routing decides which connectors carry a message and which sender
// IDs a destination accepts: routes match the destination's E.164 number by
// longest prefix; each names its connectors in order of preference, the
// sender IDs its operator approved (Jordan's operators drop SMS from
// unregistered alphanumeric senders) and a default sender.
package routing

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// Route is one entry of the routing table.
type Route struct {
	Prefix        string   `json:"prefix"`         // "+96279"; "+" matches every number
	Operator      string   `json:"operator"`       // a label for messages: "Zain"
	Connectors    []string `json:"connectors"`     // names, in order of preference
	Senders       []string `json:"senders"`        // approved senders; none: any sender
	DefaultSender string   `json:"default_sender"` // used when a send names no sender
}

// Table is a validated routing table. The zero Table (no routes) sends every
// destination to every connector in order and accepts any sender.
type Table struct {
	routes     []Route // longest prefix first
	connectors []string
}

// New validates routes against the connector names (in their default order).
func New(routes []Route, connectors []string) (*Table, error) {
	var errs []error
	seen := map[string]bool{}
	for i, r := range routes {
		where := fmt.Sprintf("route %d (prefix %q)", i+1, r.Prefix)
		if !validPrefix(r.Prefix) {
			errs = append(errs, fmt.Errorf("%s: prefix must be '+' followed by up to 15 digits, e.g. \"+96279\"", where))
		}
		if seen[r.Prefix] {
			errs = append(errs, fmt.Errorf("%s: another route has the same prefix", where))
		}
		seen[r.Prefix] = true
		if len(r.Connectors) == 0 {
			errs = append(errs, fmt.Errorf("%s: names no connectors", where))
		}
		for _, c := range r.Connectors {
			if !slices.Contains(connectors, c) {
				errs = append(errs, fmt.Errorf("%s: connector %q is not configured (configured: %s)", where, c, strings.Join(connectors, ", ")))
			}
		}
		if r.DefaultSender != "" && len(r.Senders) > 0 && !slices.Contains(r.Senders, r.DefaultSender) {
			errs = append(errs, fmt.Errorf("%s: default_sender %q is not among its senders", where, r.DefaultSender))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sorted := slices.Clone(routes)
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i].Prefix) > len(sorted[j].Prefix) })
	return &Table{routes: sorted, connectors: slices.Clone(connectors)}, nil
}

func validPrefix(p string) bool {
	if len(p) < 1 || len(p) > 16 || p[0] != '+' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// Match returns the route for an E.164 number: the one with the longest
// matching prefix.
func (t *Table) Match(e164 string) (Route, bool) {
	for _, r := range t.routes {
		if strings.HasPrefix(e164, r.Prefix) {
			return r, true
		}
	}
	return Route{}, false
}

// Connectors returns the names of the connectors for a number, in order; nil
// when routes exist and none matches.
func (t *Table) Connectors(e164 string) []string {
	if len(t.routes) == 0 {
		return t.connectors
	}
	r, ok := t.Match(e164)
	if !ok {
		return nil
	}
	return r.Connectors
}

// Sender checks from (as the API gave it, "" when absent) for a destination
// and returns the sender to use, or an *otpgate.Error saying what to do.
func (t *Table) Sender(e164, from string) (string, error) {
	if len(t.routes) == 0 {
		if from == "" {
			return "", missingSender()
		}
		return from, nil
	}
	r, ok := t.Match(e164)
	if !ok {
		return "", otpgate.Errorf(otpgate.KindInvalid, otpgate.CodeNoRoute,
			"No route delivers to %s: otpgate is configured for %s; add a route for this destination to the config file", e164, t.prefixes())
	}
	if from == "" {
		if r.DefaultSender == "" {
			return "", missingSender()
		}
		return r.DefaultSender, nil
	}
	if len(r.Senders) > 0 && !slices.Contains(r.Senders, from) {
		return "", &otpgate.Error{Kind: otpgate.KindInvalid, Code: otpgate.CodeSenderNotApproved, Field: "from", // a whole message: no field name in it
			Message: fmt.Sprintf("Sender %q is not approved for %s (route %s): %s drops SMS from unregistered sender IDs. Use one of %s, or register %q with the operator and add it to the route's senders in the config file",
				from, label(r), r.Prefix, label(r), quoteAll(r.Senders), from)}
	}
	return from, nil
}

func missingSender() error {
	return otpgate.FieldError("from", otpgate.MissingField, ": an alphanumeric sender ID (1-11 characters, at least one letter, e.g. \"MyApp\"), a short code, or a phone number; or configure a default_sender for the route")
}

func label(r Route) string {
	if r.Operator != "" {
		return r.Operator
	}
	return "the operator"
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

func (t *Table) prefixes() string {
	p := make([]string, len(t.routes))
	for i, r := range t.routes {
		p[i] = r.Prefix
	}
	return strings.Join(p, ", ")
}
