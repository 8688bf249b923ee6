package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

const servicesUsage = "Usage: otpgate services set --account SID --service NAME [--events-url URL] [--code-length N] [--code-ttl D] [--countries LIST] [--data-dir DIR]\n"

// serviceChange is what otpgate services set was told: the service, and
// the settings given (given names their flags).
type serviceChange struct {
	account, name, dataDir, db string
	eventsURL, countries       string
	fallbackChannel            string
	fallbackAfter              int // seconds
	codeLength                 int
	codeTTL                    time.Duration
	given                      map[string]bool
}

func runServices(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "set" {
		fmt.Fprint(stderr, servicesUsage)
		return errors.New("services: the only subcommand is set")
	}
	c, err := parseServicesSet(ctx, args[1:], stderr)
	if err != nil {
		return err
	}
	if err := existingStore(c.db, c.dataDir); err != nil {
		return fmt.Errorf("services set: %w", err)
	}
	st, err := openStore(ctx, c.db, c.dataDir, nil, DBOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Account(ctx, c.account); err != nil {
		return fmt.Errorf("services set: no account %s in %s", c.account, c.dataDir)
	}
	log := audit.NewLog(st, nil, nil)
	if err := c.checkCeiling(ctx, st, stderr); err != nil {
		return err
	}
	// The server beside this command sees the change within its cache of
	// services (seconds); a change through the API applies at once.
	services, err := verify.NewServices(verify.ServicesConfig{Store: st})
	if err != nil {
		return err
	}
	svc, created, err := services.Create(ctx, services.New(c.account, c.name))
	if err != nil {
		return err
	}
	if created {
		log.Record(ctx, cliActor(), audit.Entry{AccountSID: c.account, Kind: audit.KindService, Action: "create", Target: svc.SID, After: audit.Service(svc)})
	}
	before, svc, err := services.Update(ctx, c.account, svc.SID, c.apply)
	if err != nil {
		return err
	}
	log.Record(ctx, cliActor(), audit.Entry{AccountSID: c.account, Kind: audit.KindService, Action: "update", Target: svc.SID,
		Before: audit.Service(before), After: audit.Service(svc)})
	to := "the account's countries"
	if svc.Countries != "" {
		to = svc.Countries
	}
	fallback := "no fallback"
	if svc.FallbackChannel != "" {
		fallback = fmt.Sprintf("a code SMS not delivered in %s is followed by one by %s", svc.FallbackAfter, svc.FallbackChannel)
	}
	_, err = fmt.Fprintf(stdout, "Service %q of %s (%s): %d-digit codes valid %s, sent to %s; verification events go to %q; %s\n",
		c.name, c.account, svc.SID, svc.CodeLength, svc.TTL, to, svc.EventsURL, fallback)
	return err
}

// parseServicesSet reads and checks the flags of otpgate services set.
func parseServicesSet(ctx context.Context, args []string, stderr io.Writer) (serviceChange, error) {
	var c serviceChange
	fs := flag.NewFlagSet("otpgate services set", flag.ContinueOnError)
	fs.StringVar(&c.account, "account", "", "the account's SID (required)")
	fs.StringVar(&c.name, "service", "", "the service's name, as in /2fa/send (required; created with the default settings if new)")
	fs.StringVar(&c.eventsURL, "events-url", "", "where the service's verification events (approved, expired, max_attempts_reached) are POSTed as signed JSON; empty to stop")
	fs.IntVar(&c.codeLength, "code-length", 0, "digits in the service's codes, 4-10 (codes sent from now on)")
	fs.DurationVar(&c.codeTTL, "code-ttl", 0, "how long the service's codes stay valid, 1m-24h (codes sent from now on)")
	fs.StringVar(&c.countries, "countries", "", "where the service's codes may go, instead of the account's countries: ISO codes, comma-separated (JO,SA), or * for any; empty to use the account's")
	fs.StringVar(&c.fallbackChannel, "fallback-channel", "", "email: a code SMS that fails or is not delivered in time is followed by a code by email to the send's fallback_to; empty for none")
	fs.IntVar(&c.fallbackAfter, "fallback-after", 0, "seconds a code SMS may go undelivered before the fallback, 5-600 (default 30)")
	fs.StringVar(&c.dataDir, "data-dir", "./otpgate-data", "the server's data directory (works while the server runs)")
	fs.StringVar(&c.db, "db", "", dbHelp)
	allowPrivate := fs.Bool("webhook-allow-private", false, "allow a URL on a loopback, private or link-local address (development and tests only)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), servicesUsage+"\nChanges a verification service's settings.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return c, err
	}
	if c.account == "" || c.name == "" {
		return c, errors.New("services set: --account and --service are required")
	}
	c.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.given[f.Name] = true })
	if !c.given["events-url"] && !c.given["code-length"] && !c.given["code-ttl"] && !c.given["countries"] && !c.given["fallback-channel"] && !c.given["fallback-after"] {
		return c, errors.New("services set: nothing to set; give --events-url, --code-length, --code-ttl, --countries, --fallback-channel or --fallback-after")
	}
	// The same checks as Verify v2's FallbackChannel and FallbackAfter.
	if err := c.apply(&verification.Service{}); err != nil {
		return c, err
	}
	if c.given["countries"] && c.countries != "" {
		countries, err := policy.ParseCountries(c.countries)
		if err != nil {
			return c, fmt.Errorf("--countries %q: %w", c.countries, err)
		}
		c.countries = countries
	}
	if c.given["code-length"] && (c.codeLength < verification.MinCodeLength || c.codeLength > verification.MaxCodeLength) {
		return c, fmt.Errorf("--code-length %d: must be %d-%d", c.codeLength, verification.MinCodeLength, verification.MaxCodeLength)
	}
	if c.given["code-ttl"] && (c.codeTTL < verification.MinTTL || c.codeTTL > verification.MaxTTL) {
		return c, fmt.Errorf("--code-ttl %s: must be between 1m and 24h", c.codeTTL)
	}
	if c.eventsURL != "" {
		if err := (webhook.Policy{AllowPrivate: *allowPrivate}).ValidateURL(ctx, c.eventsURL); err != nil {
			return c, fmt.Errorf("--events-url: %w", err)
		}
	}
	return c, nil
}

// apply sets the settings given on svc.
func (c serviceChange) apply(svc *verification.Service) error {
	if c.given["events-url"] {
		svc.EventsURL = c.eventsURL
	}
	if c.given["code-length"] {
		svc.CodeLength = c.codeLength
	}
	if c.given["code-ttl"] {
		svc.TTL = c.codeTTL
	}
	if c.given["countries"] {
		svc.Countries = c.countries
	}
	if c.given["fallback-channel"] {
		if err := verify.SetFallback(svc, &c.fallbackChannel, nil); err != nil {
			return fmt.Errorf("--fallback-channel: %w", err)
		}
	}
	if c.given["fallback-after"] {
		after := fmt.Sprint(c.fallbackAfter)
		if err := verify.SetFallback(svc, nil, &after); err != nil {
			return fmt.Errorf("--fallback-after: %w", err)
		}
	}
	return nil
}

// checkCeiling refuses countries beyond the account's ceiling (before the
// service is made, so a refused command leaves none behind).
func (c serviceChange) checkCeiling(ctx context.Context, st Store, stderr io.Writer) error {
	if !c.given["countries"] {
		return nil
	}
	admin, err := cliAdmin(st, stderr)
	if err != nil {
		return err
	}
	ceiling, _, _, err := admin.Countries(ctx, cliActor(), c.account)
	if err != nil {
		return err
	}
	if beyond := policy.Beyond(c.countries, ceiling); c.countries != "" && len(beyond) > 0 {
		return fmt.Errorf("--countries %s: %s is beyond the account's ceiling of %s; widen the ceiling first (otpgate policy set --account %s --countries ...)",
			c.countries, strings.Join(beyond, ", "), policy.Describe(ceiling), c.account)
	}
	return nil
}
