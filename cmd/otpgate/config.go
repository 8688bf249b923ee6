package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/routing"
)

// FileConfig is what --config FILE holds: connectors, routes and the sender
// IDs each route's operator approved. See examples/jordan.json.
type FileConfig struct {
	// Connectors are the SMPP connectors, after those of --smpp.
	Connectors []ConnectorConfig `json:"connectors"`
	// Routes send each destination, by its longest matching prefix, to
	// connectors in order, and name the senders its operator approved;
	// a destination no route matches is refused (21612). None: every
	// destination to every connector, any sender.
	Routes []routing.Route `json:"routes"`
	// Inbound says which account the messages users send to an address
	// belong to.
	Inbound []InboundConfig `json:"inbound"`
	// Countries is where accounts that were given no countries may send
	// (geo permissions): "JO,SA", or "*"; default the --region alone. The
	// same as "policy": {"countries": ...}.
	Countries string `json:"countries"`
	// Policy is the ceilings of every account the operator set none for
	// (otpgate policy set): the fields it sets win over --limit-per-number
	// and --daily-budget.
	Policy policy.Policy `json:"policy"`
}

// InboundConfig gives the messages users send to an address (the service's
// number or sender ID) to an account.
type InboundConfig struct {
	To      string `json:"to"`      // the address users text: a number (with or without +) or a sender ID
	Account string `json:"account"` // the account SID (AC...) their messages go to
}

// ConnectorConfig is one connector: a name and an smpp:// URL (the same form
// as --smpp; a password written $NAME is read from the environment).
type ConnectorConfig struct {
	Name string `json:"name"` // in routes, logs and the message log; overrides the URL's name=
	URL  string `json:"url"`  // smpp://SYSTEM_ID:PASSWORD@HOST:PORT?PARAMETERS (see the URL parameters)
}

// LoadFileConfig reads and checks a config file.
func LoadFileConfig(path string) (FileConfig, error) {
	var fc FileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("--config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fc, fmt.Errorf("--config %s: %v (the format is JSON with \"connectors\", \"routes\", \"inbound\", \"countries\" and \"policy\"; see examples/jordan.json)", path, err)
	}
	if fc.Countries != "" {
		c, err := policy.ParseCountries(fc.Countries)
		if err != nil {
			return fc, fmt.Errorf("--config %s: \"countries\" %q: %v", path, fc.Countries, err)
		}
		fc.Countries = c
	}
	if fc.Policy.Countries != "" {
		c, err := policy.ParseCountries(fc.Policy.Countries)
		if err != nil {
			return fc, fmt.Errorf("--config %s: \"policy\": \"countries\" %q: %v", path, fc.Policy.Countries, err)
		}
		fc.Policy.Countries = c
	}
	if err := fc.Policy.Check(); err != nil {
		return fc, fmt.Errorf("--config %s: \"policy\": %v", path, err)
	}
	for i, c := range fc.Connectors {
		if c.Name == "" || c.URL == "" {
			return fc, fmt.Errorf("--config %s: connector %d needs a \"name\" and a \"url\"", path, i+1)
		}
	}
	return fc, nil
}
