package main

import (
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/routing"
)

// serveConsole serves the web console at /console when --console is on.
func (m *Main) serveConsole(srv *api.Server, phones *phone.Parser, routes []routing.Route, admin *guard.Admin) error {
	if !m.Config.Console {
		return nil
	}
	c, err := console.New(console.Config{Store: m.store, Admin: admin, GuardOn: admin.Pumping != nil, Phones: phones, Routes: routes,
		Clock: m.Clock, Logger: m.Logger, Secure: m.Config.TLSCert != ""})
	if err != nil {
		return err
	}
	console.Register(srv, c)
	m.Logger.Info("web console at /console; sign in with a token from otpgate operator-token")
	return nil
}
