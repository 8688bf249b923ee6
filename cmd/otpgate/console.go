package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/store"
)

// serveConsole serves the web console at /console when --console is on.
func (m *Main) serveConsole(srv *api.Server, phones *phone.Parser, routes []routing.Route, pumping *guard.Pumping) error {
	if !m.Config.Console {
		return nil
	}
	var g console.Guard
	if pumping != nil {
		g = pumping
	}
	c, err := console.New(console.Config{Store: m.store, Guard: g, Phones: phones, Routes: routes, Clock: m.Clock,
		Logger: m.Logger, Secure: m.Config.TLSCert != ""})
	if err != nil {
		return err
	}
	console.Register(srv, c)
	m.Logger.Info("web console at /console; sign in with a token from otpgate console-token")
	return nil
}

const consoleTokenUsage = `Usage: otpgate console-token [--name NAME] [--data-dir DIR | --db URL]
       otpgate console-token --list [--data-dir DIR | --db URL]
       otpgate console-token --revoke ID [--data-dir DIR | --db URL]

Makes a token to sign in to the web console (otpgate serve --console) and
prints it once: only its hash is kept. --list shows the tokens (never the
tokens themselves), --revoke stops one working and signs out its sessions
at once.

Flags:
`

// runConsoleToken makes, lists or revokes console tokens.
func runConsoleToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate console-token", flag.ContinueOnError)
	name := fs.String("name", "operator", "who or what the token is for, shown in --list and in the log of each sign-in")
	list := fs.Bool("list", false, "list the console tokens")
	revoke := fs.String("revoke", "", "revoke the token with this ID (CT...)")
	dataDir := fs.String("data-dir", "./otpgate-data", "the server's data directory (works while the server runs)")
	db := fs.String("db", "", dbHelp)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), consoleTokenUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *list && *revoke != "" {
		return errors.New("console-token: --list and --revoke go alone")
	}
	if len(*name) > 100 {
		return errors.New("console-token: --name is at most 100 characters")
	}
	if *db == "" {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
	}
	st, err := openStore(ctx, *db, *dataDir, nil, DBOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	switch {
	case *list:
		toks, err := st.OperatorTokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED (UTC)\tREVOKED (UTC)")
		for _, t := range toks {
			revoked := "-"
			if !t.RevokedAt.IsZero() {
				revoked = t.RevokedAt.UTC().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.UTC().Format(time.DateTime), revoked)
		}
		return tw.Flush()
	case *revoke != "":
		if err := st.RevokeOperatorToken(ctx, *revoke, now); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("console-token: no token %s works (see --list)", *revoke)
		} else if err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "Revoked console token %s; its sessions are signed out.\n", *revoke)
		return err
	}
	rec, token := console.NewToken(*name, now)
	if err := st.InsertOperatorToken(ctx, rec); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "Created console token %s (%q). It is shown only this once; only its hash is kept.\n  Token: %s\nSign in at http://HOST:PORT/console/ (otpgate serve --console). Revoke it with: otpgate console-token --revoke %s\n",
		rec.ID, rec.Name, token, rec.ID)
	return err
}
