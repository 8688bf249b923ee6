package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

const servicesUsage = "Usage: otpgate services set --account SID --service NAME [--events-url URL] [--code-length N] [--code-ttl D] [--countries LIST] [--data-dir DIR]\n"

func runServices(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "set" {
		fmt.Fprint(stderr, servicesUsage)
		return errors.New("services: the only subcommand is set")
	}
	fs := flag.NewFlagSet("otpgate services set", flag.ContinueOnError)
	acc := fs.String("account", "", "the account's SID (required)")
	name := fs.String("service", "", "the service's name, as in /2fa/send (required; created with the default settings if new)")
	eventsURL := fs.String("events-url", "", "where the service's verification events (approved, expired, max_attempts_reached) are POSTed as signed JSON; empty to stop")
	codeLength := fs.Int("code-length", 0, "digits in the service's codes, 4-10 (codes sent from now on)")
	codeTTL := fs.Duration("code-ttl", 0, "how long the service's codes stay valid, 1m-24h (codes sent from now on)")
	countries := fs.String("countries", "", "where the service's codes may go, instead of the account's countries: ISO codes, comma-separated (JO,SA), or * for any; empty to use the account's")
	dataDir := fs.String("data-dir", "./otpgate-data", "the server's data directory (works while the server runs)")
	db := fs.String("db", "", dbHelp)
	allowPrivate := fs.Bool("webhook-allow-private", false, "allow a URL on a loopback, private or link-local address (development and tests only)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), servicesUsage+"\nChanges a verification service's settings.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if *acc == "" || *name == "" {
		return errors.New("services set: --account and --service are required")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["events-url"] && !given["code-length"] && !given["code-ttl"] && !given["countries"] {
		return errors.New("services set: nothing to set; give --events-url, --code-length, --code-ttl or --countries")
	}
	if given["countries"] && *countries != "" {
		c, err := policy.ParseCountries(*countries)
		if err != nil {
			return fmt.Errorf("--countries %q: %w", *countries, err)
		}
		*countries = c
	}
	if given["code-length"] && (*codeLength < verification.MinCodeLength || *codeLength > verification.MaxCodeLength) {
		return fmt.Errorf("--code-length %d: must be %d-%d", *codeLength, verification.MinCodeLength, verification.MaxCodeLength)
	}
	if given["code-ttl"] && (*codeTTL < verification.MinTTL || *codeTTL > verification.MaxTTL) {
		return fmt.Errorf("--code-ttl %s: must be between 1m and 24h", *codeTTL)
	}
	if *eventsURL != "" {
		if err := (webhook.Policy{AllowPrivate: *allowPrivate}).ValidateURL(ctx, *eventsURL); err != nil {
			return fmt.Errorf("--events-url: %w", err)
		}
	}
	if err := existingStore(*db, *dataDir); err != nil {
		return fmt.Errorf("services set: %w", err)
	}
	st, err := openStore(ctx, *db, *dataDir, nil, DBOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Account(ctx, *acc); err != nil {
		return fmt.Errorf("services set: no account %s in %s", *acc, *dataDir)
	}
	log := audit.NewLog(st, nil, nil)
	if given["countries"] {
		admin, err := cliAdmin(st, stderr)
		if err != nil {
			return err
		}
		ceiling, _, _, err := admin.Countries(ctx, cliActor(), *acc)
		if err != nil {
			return err
		}
		if beyond := policy.Beyond(*countries, ceiling); *countries != "" && len(beyond) > 0 {
			return fmt.Errorf("--countries %s: %s is beyond the account's ceiling of %s; widen the ceiling first (otpgate policy set --account %s --countries ...)",
				*countries, strings.Join(beyond, ", "), policy.Describe(ceiling), *acc)
		}
	}
	// The server beside this command sees the change within its cache of
	// services (seconds); a change through the API applies at once.
	services, err := verify.NewServices(verify.ServicesConfig{Store: st})
	if err != nil {
		return err
	}
	svc, created, err := services.Create(ctx, services.New(*acc, *name))
	if err != nil {
		return err
	}
	if created {
		log.Record(ctx, cliActor(), audit.Entry{AccountSID: *acc, Kind: audit.KindService, Action: "create", Target: svc.SID, After: audit.Service(svc)})
	}
	before, svc, err := services.Update(ctx, *acc, svc.SID, func(svc *verification.Service) error {
		if given["events-url"] {
			svc.EventsURL = *eventsURL
		}
		if given["code-length"] {
			svc.CodeLength = *codeLength
		}
		if given["code-ttl"] {
			svc.TTL = *codeTTL
		}
		if given["countries"] {
			svc.Countries = *countries
		}
		return nil
	})
	if err != nil {
		return err
	}
	log.Record(ctx, cliActor(), audit.Entry{AccountSID: *acc, Kind: audit.KindService, Action: "update", Target: svc.SID,
		Before: audit.Service(before), After: audit.Service(svc)})
	to := "the account's countries"
	if svc.Countries != "" {
		to = svc.Countries
	}
	_, err = fmt.Fprintf(stdout, "Service %q of %s (%s): %d-digit codes valid %s, sent to %s; verification events go to %q\n",
		*name, *acc, svc.SID, svc.CodeLength, svc.TTL, to, svc.EventsURL)
	return err
}
