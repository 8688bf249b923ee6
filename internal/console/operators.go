package console

import (
	"cmp"
	"strings"

	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/routing"
)

// operators names the operator of a number prefix: the route's operator
// where the config file has routes, else the operator the prefix's numbers
// were allocated to (a hint: numbers can be ported), else the connector
// that sent them, else the prefix.
type operators struct {
	routes []routing.Route
	phones *phone.Parser
	cache  map[string]string
}

func newOperators(routes []routing.Route, phones *phone.Parser) *operators {
	return &operators{routes: routes, phones: phones, cache: map[string]string{}}
}

func (o *operators) of(prefix, connector string) string {
	if name, ok := o.cache[prefix]; ok {
		return cmp.Or(name, connector, prefix)
	}
	name := o.lookup(prefix)
	o.cache[prefix] = name
	return cmp.Or(name, connector, prefix)
}

func (o *operators) lookup(prefix string) string {
	best := ""
	for _, r := range o.routes {
		if strings.HasPrefix(prefix, r.Prefix) && len(r.Prefix) > len(best) && r.Operator != "" {
			best = r.Prefix
		}
	}
	for _, r := range o.routes {
		if r.Prefix == best && best != "" {
			return r.Operator
		}
	}
	if o.phones == nil || !strings.HasPrefix(prefix, "+") {
		return ""
	}
	// A number of the prefix: the prefix and zeros, as long as the
	// country's numbers are.
	for n := len(prefix) + 1; n <= 16; n++ {
		num, err := o.phones.Parse(prefix + strings.Repeat("0", n-len(prefix)))
		if err == nil {
			return num.Operator
		}
	}
	return ""
}
