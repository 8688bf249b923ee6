package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verify"
)

// The operator's commands, run on the server: tokens for the console and
// the operator API, an account's ceilings, the pumping guard's blocks, and
// the audit log. Each works on the data directory or --db while the server
// runs, and each change is recorded in the audit log as made by "cli".

// storeFlags are the flags that say which store a command works on.
type storeFlags struct{ dataDir, db *string }

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		dataDir: fs.String("data-dir", "./otpgate-data", "the server's data directory (works while the server runs)"),
		db:      fs.String("db", "", dbHelp),
	}
}

// open opens the store, which must exist: these commands never make a new
// one (they neither use nor check the server secret: they seal nothing).
func (f storeFlags) open(ctx context.Context) (Store, error) {
	if err := existingStore(*f.db, *f.dataDir); err != nil {
		return nil, err
	}
	return openStore(ctx, *f.db, *f.dataDir, nil, DBOptions{})
}

// cliActor is the command line's user, as the audit log names it.
func cliActor() audit.Actor {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	return audit.CLI(name)
}

// cliAdmin is guard.Admin over a store, for the command line. Ceilings
// shown are over the built-in defaults (a server's flags and --config may
// set others).
func cliAdmin(st Store, stderr io.Writer) (*guard.Admin, error) {
	phones, err := phone.NewParser("JO")
	if err != nil {
		return nil, err
	}
	services, err := verify.NewServices(verify.ServicesConfig{Store: st})
	if err != nil {
		return nil, err
	}
	log := newLogger(ServeConfig{LogLevel: "warn", LogFormat: "text"}, stderr)
	return &guard.Admin{
		Store:    st,
		Ceilings: guard.NewCeilings(guard.CeilingsConfig{Defaults: builtinDefaults(), Accounts: st}),
		Pumping:  guard.NewPumping(guard.PumpingConfig{Store: st}),
		Phones:   phones,
		Audit:    audit.NewLog(st, log, nil),
		Services: services,
	}, nil
}

// builtinDefaults are the ceilings of a server started with no flags.
func builtinDefaults() policy.Effective {
	return policy.Effective{Countries: "JO", PerNumber: guard.DefaultPerNumber, DailyBudget: policy.DefaultDailyBudget, Messages: policy.MessagesAny}
}

const operatorTokenUsage = `Usage: otpgate operator-token [--name NAME] [--account SID] [--data-dir DIR | --db URL]
       otpgate operator-token --list [--data-dir DIR | --db URL]
       otpgate operator-token --revoke ID [--data-dir DIR | --db URL]
(otpgate console-token is another name for it.)

Makes a token of the operator and prints it once (only its hash is kept). It
signs in to the web console (serve --console) and calls the operator API
(/operator/..., Authorization: Bearer TOKEN). Without --account it sees and
changes every account; with --account it sees that account only and changes
nothing. --list shows the tokens (never the tokens themselves), --revoke
stops one working and signs out its sessions at once.

Flags:
`

// runOperatorToken makes, lists or revokes operator tokens.
func runOperatorToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate operator-token", flag.ContinueOnError)
	name := fs.String("name", "operator", "who or what the token is for, shown in --list, in the log of each sign-in and in the audit log")
	acc := fs.String("account", "", "make a token that sees this account only (AC...), and changes nothing")
	list := fs.Bool("list", false, "list the operator tokens")
	revoke := fs.String("revoke", "", "revoke the token with this ID (CT...)")
	sf := addStoreFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), operatorTokenUsage)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *list && *revoke != "" {
		return errors.New("operator-token: --list and --revoke go alone")
	}
	if len(*name) > 100 {
		return errors.New("operator-token: --name is at most 100 characters")
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	log := audit.NewLog(st, newLogger(ServeConfig{LogLevel: "warn", LogFormat: "text"}, stderr), nil)
	switch {
	case *list:
		return listOperatorTokens(ctx, st, stdout)
	case *revoke != "":
		return revokeOperatorToken(ctx, st, log, *revoke, now, stdout)
	}
	if *acc != "" {
		if _, err := st.Account(ctx, *acc); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("operator-token: --account: no account %s", *acc)
		} else if err != nil {
			return err
		}
	}
	rec, token := console.NewToken(*name, now)
	rec.AccountSID = *acc
	if err := st.InsertOperatorToken(ctx, rec); err != nil {
		return err
	}
	log.Record(ctx, cliActor(), audit.Entry{AccountSID: *acc, Kind: audit.KindToken, Action: "create_operator_token", Target: rec.ID,
		After: map[string]string{"id": rec.ID, "name": rec.Name, "account_sid": rec.AccountSID}})
	sees := "every account"
	if *acc != "" {
		sees = "account " + *acc + " only, reading"
	}
	_, err = fmt.Fprintf(stdout, "Created operator token %s (%q; it sees %s). It is shown only this once; only its hash is kept.\n  Token: %s\nSign in at http://HOST:PORT/console/ (otpgate serve --console), or call the operator API with\n  Authorization: Bearer %s\nRevoke it with: otpgate operator-token --revoke %s\n",
		rec.ID, rec.Name, sees, token, token, rec.ID)
	return err
}

// listOperatorTokens prints the operator tokens, revoked ones too.
func listOperatorTokens(ctx context.Context, st Store, stdout io.Writer) error {
	toks, err := st.OperatorTokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSEES\tCREATED (UTC)\tREVOKED (UTC)")
	for _, t := range toks {
		revoked, sees := "-", "every account"
		if !t.RevokedAt.IsZero() {
			revoked = t.RevokedAt.UTC().Format(time.DateTime)
		}
		if t.AccountSID != "" {
			sees = t.AccountSID + " (read only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, sees, t.CreatedAt.UTC().Format(time.DateTime), revoked)
	}
	return tw.Flush()
}

// revokeOperatorToken revokes the operator token id, and audits it.
func revokeOperatorToken(ctx context.Context, st Store, log *audit.Log, id string, now time.Time, stdout io.Writer) error {
	if err := st.RevokeOperatorToken(ctx, id, now); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("operator-token: no token %s works (see --list)", id)
	} else if err != nil {
		return err
	}
	// A token made for one account: its revocation is that account's
	// record too.
	toks, err := st.OperatorTokens(ctx)
	if err != nil {
		return err
	}
	e := audit.Entry{Kind: audit.KindToken, Action: "revoke_operator_token", Target: id}
	for _, t := range toks {
		if t.ID == id {
			e.AccountSID = t.AccountSID
		}
	}
	log.Record(ctx, cliActor(), e)
	_, err = fmt.Fprintf(stdout, "Revoked operator token %s; its console sessions are signed out.\n", id)
	return err
}

const policyUsage = `Usage: otpgate policy show --account SID [--json] [--data-dir DIR | --db URL]
       otpgate policy set --account SID [--countries LIST] [--per-number N/DURATION]
                          [--daily-budget N] [--messages any|codes] [--transactional true|false]
                          [--data-dir DIR | --db URL]
       otpgate policy list [--data-dir DIR | --db URL]

The ceilings the operator sets for an account, which its own token cannot
widen: the countries it may send to (it may narrow them), SMS to one number
(per-number), SMS in a day (daily-budget), whether it may use the
messages API (any) or send verification codes only (codes), and whether its
messages are transactional (not counted as unconverted by the pumping guard).
A field set to "default" follows the server's default (serve's
--limit-per-number, --daily-budget, --region or the config file's "policy").
Running servers apply a change within 5 seconds. Each change is recorded in
the audit log.
`

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"show", "set", "list"}, args[0]) {
		fmt.Fprint(stderr, policyUsage)
		return errors.New("policy: the subcommands are show, set and list")
	}
	what := args[0]
	fs := flag.NewFlagSet("otpgate policy "+what, flag.ContinueOnError)
	acc := fs.String("account", "", "the account's SID (AC...)")
	asJSON := fs.Bool("json", false, "print the policy as JSON")
	fields := map[string]*string{}
	if what == "set" {
		for _, f := range policy.Fields {
			fields[f] = fs.String(strings.ReplaceAll(f, "_", "-"), "", policyFieldHelp[f])
		}
	}
	sf := addStoreFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), subUsage(policyUsage, "policy", what)+"\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if what != "list" && *acc == "" {
		return fmt.Errorf("policy %s: --account is required", what)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[strings.ReplaceAll(f.Name, "-", "_")] = true })
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	admin, err := cliAdmin(st, stderr)
	if err != nil {
		return err
	}
	switch what {
	case "list":
		return listPolicies(ctx, st, stdout)
	case "set":
		if err := setPolicy(ctx, admin, *acc, given, fields); err != nil {
			return err
		}
	}
	p, eff, err := admin.Policy(ctx, cliActor(), *acc)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"account_sid": *acc, "policy": p, "effective": eff})
	}
	return printPolicy(stdout, *acc, p, eff)
}

// listPolicies prints every account's policy.
func listPolicies(ctx context.Context, st Store, stdout io.Writer) error {
	accs, err := st.Accounts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tCOUNTRIES\tPER NUMBER\tDAILY BUDGET\tMESSAGES\tTRANSACTIONAL")
	for _, a := range accs {
		p := a.Policy
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.SID, a.Name, orDefault(p.Countries), rateOrDefault(p.PerNumber),
			intOrDefault(p.DailyBudget), orDefault(string(p.Messages)), boolOrDefault(p.Transactional))
	}
	return tw.Flush()
}

// setPolicy sets the fields given (by their flags) of an account's policy.
func setPolicy(ctx context.Context, admin *guard.Admin, acc string, given map[string]bool, fields map[string]*string) error {
	p, _, err := admin.Policy(ctx, cliActor(), acc)
	if err != nil {
		return err
	}
	n := 0
	for _, f := range policy.Fields {
		if !given[f] {
			continue
		}
		n++
		if p, err = p.With(f, *fields[f]); err != nil {
			return fmt.Errorf("policy set: --%s", strings.ReplaceAll(err.Error(), "_", "-"))
		}
	}
	if n == 0 {
		return errors.New("policy set: nothing to set; give --countries, --per-number, --daily-budget, --messages or --transactional (a value, or default)")
	}
	_, err = admin.SetPolicy(ctx, cliActor(), acc, p)
	return err
}

// printPolicy prints an account's policy as set, and what applies.
func printPolicy(stdout io.Writer, acc string, p policy.Policy, eff policy.Effective) error {
	budget := "none"
	if eff.DailyBudget > 0 {
		budget = fmt.Sprintf("%d SMS a day", eff.DailyBudget)
	}
	fmt.Fprintf(stdout, "Account %s: set (default: the server's default), and what applies (as on a server started without flags)\n", acc)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  countries\t%s\t%s\n", orDefault(p.Countries), policy.Describe(eff.Countries))
	fmt.Fprintf(tw, "  per-number\t%s\t%s\n", rateOrDefault(p.PerNumber), eff.PerNumber)
	fmt.Fprintf(tw, "  daily-budget\t%s\t%s\n", intOrDefault(p.DailyBudget), budget)
	fmt.Fprintf(tw, "  messages\t%s\t%s\n", orDefault(string(p.Messages)), eff.Messages)
	fmt.Fprintf(tw, "  transactional\t%s\t%v\n", boolOrDefault(p.Transactional), eff.Transactional)
	return tw.Flush()
}

var policyFieldHelp = map[string]string{
	"countries":     "where the account may send at most: ISO codes, comma-separated (JO,SA), * for any, or default",
	"per_number":    "SMS to one number, codes and messages, as N/DURATION (10/1h), off, or default",
	"daily_budget":  "SMS the account may send in a day: a number, off, or default",
	"messages":      "any (the messages API to any number its countries allow), codes (verification codes only), or default",
	"transactional": "true: its messages are not counted as unconverted by the pumping guard (receipts, alerts); false; or default",
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func rateOrDefault(r *policy.Rate) string {
	if r == nil {
		return "default"
	}
	return r.String()
}

func intOrDefault(n *int) string {
	switch {
	case n == nil:
		return "default"
	case *n == 0:
		return "off"
	}
	return fmt.Sprint(*n)
}

func boolOrDefault(b *bool) string {
	if b == nil {
		return "default"
	}
	return fmt.Sprint(*b)
}

const guardUsage = `Usage: otpgate guard blocks --account SID [--data-dir DIR | --db URL]
       otpgate guard lift --account SID --key KEY [--data-dir DIR | --db URL]

The SMS-pumping guard's blocks of an account (a prefix like +96279031, an
operator like operator:JO:Zain, a country like country:JO), and lifting one:
running servers stop refusing within 2 seconds, and the key's counts start
afresh. Only the operator lifts a block; the lift is recorded in the audit
log.
`

func runGuard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "blocks" && args[0] != "lift") {
		fmt.Fprint(stderr, guardUsage)
		return errors.New("guard: the subcommands are blocks and lift")
	}
	what := args[0]
	fs := flag.NewFlagSet("otpgate guard "+what, flag.ContinueOnError)
	acc := fs.String("account", "", "the account's SID (AC...)")
	key := fs.String("key", "", "lift: the block's key, as guard blocks lists it")
	sf := addStoreFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), subUsage(guardUsage, "guard", what)+"\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if *acc == "" || (what == "lift" && *key == "") {
		return fmt.Errorf("guard %s: --account is required (and --key to lift)", what)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	admin, err := cliAdmin(st, stderr)
	if err != nil {
		return err
	}
	if what == "lift" {
		b, err := admin.Lift(ctx, cliActor(), *acc, *key)
		if err != nil {
			return fmt.Errorf("guard lift: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "Lifted the block of %s for account %s (it was level %d, until %s); running servers apply it within 2 seconds.\n",
			b.Key, *acc, b.Level, b.Until.UTC().Format(time.RFC3339))
		return err
	}
	bs, err := admin.Blocks(ctx, cliActor(), *acc)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tLEVEL\tSINCE (UTC)\tUNTIL (UTC)\tREASON")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", b.Key, b.Level, b.Since.UTC().Format(time.DateTime), b.Until.UTC().Format(time.DateTime), b.Reason)
	}
	return tw.Flush()
}

const auditUsage = `Usage: otpgate audit [--account SID] [--kind KIND] [--limit N] [--json] [--data-dir DIR | --db URL]

The audit log, newest first: every change to tokens, ceilings, countries,
safe lists, blocks (made or lifted), services and account state, and every
attempt at one that was refused: when, who, what, before and after. KIND is
one of token, policy, countries, safe_list, block, service, account.

Flags:
`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate audit", flag.ContinueOnError)
	acc := fs.String("account", "", "only this account's entries (AC...)")
	kind := fs.String("kind", "", "only entries of this kind: "+strings.Join(audit.Kinds, ", "))
	limit := fs.Int("limit", 50, "at most this many entries, 1-10000")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	sf := addStoreFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), auditUsage)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *kind != "" && !slices.Contains(audit.Kinds, *kind) {
		return fmt.Errorf("audit: --kind %q: one of %s", *kind, strings.Join(audit.Kinds, ", "))
	}
	if *limit < 1 || *limit > 10000 {
		return fmt.Errorf("audit: --limit %d: 1 to 10000", *limit)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	entries, err := st.AuditLog(ctx, audit.Filter{AccountSID: *acc, Kind: *kind, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT (UTC)\tACCOUNT\tWHO\tKIND\tACTION\tTARGET\tOUTCOME")
	for _, e := range entries {
		who := e.Actor
		if e.ActorName != "" {
			who += " (" + e.ActorName + ")"
		}
		out := e.Outcome
		if e.Detail != "" {
			out += ": " + e.Detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.DateTime), orDash(e.AccountSID), who, e.Kind, e.Action, orDash(e.Target), out)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
