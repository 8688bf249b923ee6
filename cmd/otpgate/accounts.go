package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/webhook"
)

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "set" {
		return runAccountsSet(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "rotate-token" || args[0] == "disable" || args[0] == "enable") {
		return runAccountsChange(ctx, args[0], args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, accountsUsage)
		return errors.New("accounts: the subcommands are create, set, rotate-token, disable and enable")
	}
	fs := flag.NewFlagSet("otpgate accounts create", flag.ContinueOnError)
	name := fs.String("name", "", "the account's name (required)")
	asJSON := fs.Bool("json", false, `print {"sid":"AC...","auth_token":"..."} as JSON`)
	dataDir := fs.String("data-dir", "./otpgate-data", "the server's data directory (works while the server runs)")
	db := fs.String("db", "", dbHelp)
	secretFile := fs.String("secret-file", "", "the server secret, if serve was given one (default: DATA_DIR/secret)")
	initDir := fs.Bool("init", false, "make a new data directory (database and server secret) if there is none; without --init or --data-dir, none is made")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate accounts create --name NAME [--json] [--data-dir DIR | --init]\n\nCreates an API account and prints its SID and auth token (shown only once), in\nthe data directory otpgate serve uses (--data-dir, or --db and --secret-file).\nIt makes a new data directory only with --init or an explicit --data-dir.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("accounts create: --name is required")
	}
	// A new data directory only when asked for: run from the wrong
	// directory, this would otherwise print an account no server knows.
	if *db == "" || *secretFile == "" { // the data directory holds the database or the secret
		if err := newDataDirAllowed(*dataDir, *db, *initDir || explicitFlag(fs, "data-dir")); err != nil {
			return fmt.Errorf("accounts create: %w", err)
		}
		if err := makeDataDir(*dataDir, dataDirHolds(*db, *secretFile), sayOn(stderr)); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, *db, *dataDir, nil, DBOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := serverSecret{File: *secretFile, DataDir: *dataDir, Shared: isPostgres(*db), Create: true, Notice: sayOn(stderr)}.keys(ctx, st)
	if err != nil {
		return fmt.Errorf("accounts create: %w", err)
	}
	c, err := account.Create(ctx, st, keys, *name, time.Now())
	if err != nil {
		return err
	}
	audit.NewLog(st, nil, nil).Record(ctx, cliActor(), audit.Entry{AccountSID: c.SID, Kind: audit.KindAccount, Action: "create",
		Target: c.SID, After: map[string]string{"sid": c.SID, "name": c.Name}})
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"sid": c.SID, "auth_token": c.AuthToken})
	}
	_, err = fmt.Fprintf(stdout, "Created account %q. The auth token is shown only this once.\n  Account SID: %s\n  Auth token:  %s\n", c.Name, c.SID, c.AuthToken)
	return err
}

const accountsUsage = `Usage: otpgate accounts create --name NAME [--json] [--data-dir DIR | --init]
       otpgate accounts set --sid SID [--sms-url URL] [--countries LIST] [--data-dir DIR]
       otpgate accounts rotate-token --sid SID [--json] [--data-dir DIR]
       otpgate accounts disable --sid SID [--data-dir DIR]
       otpgate accounts enable --sid SID [--data-dir DIR]
`

// runAccountsChange rotates an account's token (a new one works at once,
// the old one stops) or disables or enables it. Running servers see it
// within a quarter second.
func runAccountsChange(ctx context.Context, what string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate accounts "+what, flag.ContinueOnError)
	sid := fs.String("sid", "", "the account's SID (required)")
	asJSON := fs.Bool("json", false, `rotate-token: print {"sid":"AC...","auth_token":"..."} as JSON`)
	dataDir := fs.String("data-dir", "./otpgate-data", "the server's data directory (works while the server runs)")
	db := fs.String("db", "", dbHelp)
	secretFile := fs.String("secret-file", "", "the server secret, if serve was given one (default: DATA_DIR/secret)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), subUsage(accountsUsage, "accounts", what)+`
rotate-token gives the account a new auth token and prints it (shown only
once); the old one stops working at once, on every running node within a
quarter second. disable makes every token of the account fail (401) the same
way; enable undoes it. For a rotation without downtime, use the API's
secondary token instead (POST /v1/AuthTokens/Secondary, then Promote).

Flags:
`)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *sid == "" {
		return fmt.Errorf("accounts %s: --sid is required", what)
	}
	if err := existingStore(*db, *dataDir); err != nil {
		return fmt.Errorf("accounts %s: %w", what, err)
	}
	st, err := openStore(ctx, *db, *dataDir, nil, DBOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Account(ctx, *sid); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("accounts %s: no account %s", what, *sid)
	} else if err != nil {
		return err
	}
	log := audit.NewLog(st, nil, nil)
	switch what {
	case "disable", "enable":
		if err := st.SetAccountDisabled(ctx, *sid, what == "disable"); err != nil {
			return err
		}
		log.Record(ctx, cliActor(), audit.Entry{AccountSID: *sid, Kind: audit.KindAccount, Action: what, Target: *sid})
		_, err := fmt.Fprintf(stdout, "Account %s %sd: running servers apply it within a quarter second\n", *sid, what)
		return err
	}
	keys, err := serverSecret{File: *secretFile, DataDir: *dataDir, Shared: isPostgres(*db)}.keys(ctx, st)
	if err != nil {
		return fmt.Errorf("accounts %s: %w", what, err)
	}
	token, err := account.Rotate(ctx, st, keys, *sid)
	if err != nil {
		return err
	}
	log.Record(ctx, cliActor(), audit.Entry{AccountSID: *sid, Kind: audit.KindToken, Action: "rotate", Target: *sid})
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"sid": *sid, "auth_token": token})
	}
	_, err = fmt.Fprintf(stdout, "Account SID: %s\nAuth token:  %s\n(shown only once; the old token stopped working)\n", *sid, token)
	return err
}

func runAccountsSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate accounts set", flag.ContinueOnError)
	sid := fs.String("sid", "", "the account's SID (required)")
	smsURL := fs.String("sms-url", "", "where the account's inbound SMS are POSTed (Twilio's parameters, signed); empty to stop")
	countries := fs.String("countries", "", "the account's countries ceiling (as otpgate policy set --countries): ISO codes, comma-separated (JO,SA), or * for any; empty for the server's default")
	dataDir := fs.String("data-dir", "./otpgate-data", "the server's data directory (works while the server runs)")
	db := fs.String("db", "", dbHelp)
	allowPrivate := fs.Bool("webhook-allow-private", false, "allow a URL on a loopback, private or link-local address (development and tests only)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate accounts set --sid SID [--sms-url URL] [--countries LIST] [--data-dir DIR]\n\nChanges an account's settings (those given; the others stay). --countries sets\nthe account's ceiling, as otpgate policy set --countries does; a running server\nsees it within 5 s.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *sid == "" {
		return errors.New("accounts set: --sid is required")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["sms-url"] && !given["countries"] {
		return errors.New("accounts set: nothing to set; give --sms-url or --countries")
	}
	if *smsURL != "" {
		if err := (webhook.Policy{AllowPrivate: *allowPrivate}).ValidateURL(ctx, *smsURL); err != nil {
			return fmt.Errorf("--sms-url: %w", err)
		}
	}
	if *countries != "" {
		c, err := policy.ParseCountries(*countries)
		if err != nil {
			return fmt.Errorf("--countries %q: %w", *countries, err)
		}
		*countries = c
	}
	if err := existingStore(*db, *dataDir); err != nil {
		return fmt.Errorf("accounts set: %w", err)
	}
	st, err := openStore(ctx, *db, *dataDir, nil, DBOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	if given["sms-url"] {
		if err := setAccountSMSURL(ctx, st, *sid, *smsURL, stdout); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("accounts set: no account %s in %s", *sid, *dataDir)
		} else if err != nil {
			return err
		}
	}
	if given["countries"] {
		return setAccountCountries(ctx, st, *sid, *countries, stdout, stderr)
	}
	return nil
}

// setAccountSMSURL sets where an account's inbound SMS are POSTed, and
// audits it.
func setAccountSMSURL(ctx context.Context, st Store, sid, smsURL string, stdout io.Writer) error {
	old, err := st.Account(ctx, sid)
	if err != nil {
		return err
	}
	if err := st.SetAccountSMSURL(ctx, sid, smsURL); err != nil {
		return err
	}
	audit.NewLog(st, nil, nil).Record(ctx, cliActor(), audit.Entry{AccountSID: sid, Kind: audit.KindAccount, Action: "set_sms_url",
		Target: sid, Before: audit.BareURL(old.SMSURL), After: audit.BareURL(smsURL)})
	_, err = fmt.Fprintf(stdout, "Account %s: inbound SMS go to %q\n", sid, smsURL)
	return err
}

// setAccountCountries sets an account's countries ceiling ("": the
// server's default), as otpgate policy set --countries does.
func setAccountCountries(ctx context.Context, st Store, sid, countries string, stdout, stderr io.Writer) error {
	admin, err := cliAdmin(st, stderr)
	if err != nil {
		return err
	}
	p, _, err := admin.Policy(ctx, cliActor(), sid)
	if err != nil {
		return err
	}
	p.Countries = countries
	if _, err := admin.SetPolicy(ctx, cliActor(), sid, p); err != nil {
		return err
	}
	to := countries
	if to == "" {
		to = "the server's default (--region, or the config file's countries)"
	}
	_, err = fmt.Fprintf(stdout, "Account %s: may send to %s at most (its ceiling; see otpgate policy show)\n", sid, to)
	return err
}
