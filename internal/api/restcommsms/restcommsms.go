// Package restcommsms serves Restcomm Connect's SMS API:
// /2012-04-24/Accounts/{AccountSid}/SMS/Messages[.json] (also under
// /restcomm, where Restcomm Connect itself serves it). Restcomm's API copies
// Twilio's: the same parameters, JSON shapes and error codes, so the routes
// are Twilio's handlers (package twilio) under Restcomm's paths, and its
// dialect is Twilio's. Unlike Restcomm Connect, numbers are parsed in the
// server's region (not the US), and bodies are not cut at 160 bytes.
package restcommsms

import (
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/api/twilio"
)

// Bases are where Restcomm's SMS API lives.
var Bases = []string{
	"/2012-04-24/Accounts/{AccountSid}/SMS/Messages",
	"/restcomm/2012-04-24/Accounts/{AccountSid}/SMS/Messages",
}

// Dialect is Restcomm's, which is Twilio's.
var Dialect = twilio.Dialect

// Register adds Restcomm's SMS routes.
func Register(s *api.Server, m twilio.Messages) {
	for _, base := range Bases {
		m.Mount(s, base, Dialect)
	}
}
