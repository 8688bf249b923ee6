// Command otpgate is a self-hosted phone-verification and SMS service.
//
// Usage:
//
//	otpgate serve [flags]            run the API server
//	otpgate accounts create --name   create an API account
//	otpgate operator-token           make a token of the operator (console, /operator API)
//	otpgate policy show|set|list     an account's ceilings
//	otpgate guard blocks|lift        the pumping guard's blocks
//	otpgate audit                    the audit log
//	otpgate migrate [--db URL]       apply the database's migrations
//	otpgate copy --from --to         move an embedded deployment to PostgreSQL
//	otpgate bench [flags]            load-test a running otpgate
//	otpgate noop-server [flags]      a no-op HTTP server, the ceiling for bench
//	otpgate smsc-sim [flags]         an SMPP SMSC simulator
//	otpgate openapi [--postman]      print the OpenAPI description or a Postman collection
//	otpgate doctor [flags]           check a configuration against its connectors
//	otpgate version                  print the version and the build's commit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `otpgate: phone verification (one-time codes) and SMS, self-hosted.

Usage:
  otpgate serve [flags]                 run the API server (see: otpgate serve --help)
  otpgate accounts create --name NAME   create an API account and print its SID and auth token
  otpgate accounts set --sid SID [--sms-url URL] [--countries LIST]
                                        where the account's inbound SMS are POSTed,
                                        and the countries it may send to
  otpgate services set --account SID --service NAME [--events-url URL] [--countries LIST] [...]
                                        a service's events webhook, codes and countries
  otpgate migrate [--db URL]            apply the database's pending migrations
  otpgate operator-token [--name NAME] [--account SID]
                                        make an operator token: signs in to the web console and
                                        calls the operator API (/operator/...); --list, --revoke ID
                                        (console-token is another name for it)
  otpgate policy show|set|list --account SID [--countries LIST] [--per-number N/D] [--daily-budget N] [...]
                                        the ceilings of an account, which its own token cannot widen
  otpgate guard blocks|lift --account SID [--key KEY]
                                        the SMS-pumping guard's blocks of an account; lift one
  otpgate audit [--account SID] [--kind KIND]
                                        the audit log: who changed what, and attempts refused
  otpgate copy --from sqlite:DIR --to postgres://...
                                        move an embedded deployment to PostgreSQL
  otpgate bench --url URL --sid SID --token TOKEN [--smsc-listen ADDR] [flags]
                                        load-test a running otpgate (send and verify); with
                                        --smsc-listen, also what reaches its SMSC and when
  otpgate noop-server [--addr ADDR]     a no-op HTTP server: the ceiling bench is compared with
  otpgate smsc-sim [--addr ADDR]        an SMPP SMSC simulator for development and load tests
  otpgate openapi [--postman] [--url URL]
                                        print the OpenAPI 3.1 description (served at /openapi.json),
                                        or with --postman a Postman collection made from it
  otpgate doctor [--config FILE] [serve's flags]
                                        check a configuration: binds each SMPP connector,
                                        reaches the database; says what is wrong in words
  otpgate version [--json]              print the version, the build's commit, Go version, os/arch

Every flag can also be set with an OTPGATE_* environment variable (for
example --data-dir is OTPGATE_DATA_DIR); a flag given on the command line wins.
`

func main() {
	// The data directory holds secrets (the server secret, sandbox bodies):
	// everything otpgate creates is for its own user only.
	syscall.Umask(0o077)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "otpgate:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "accounts":
		return runAccounts(ctx, args[1:], stdout, stderr)
	case "services":
		return runServices(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "operator-token", "console-token":
		return runOperatorToken(ctx, args[1:], stdout, stderr)
	case "policy":
		return runPolicy(ctx, args[1:], stdout, stderr)
	case "guard":
		return runGuard(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "copy":
		return runCopy(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "noop-server":
		return runNoop(ctx, args[1:], stdout, stderr)
	case "smsc-sim":
		return runSMSCSim(ctx, args[1:], stdout, stderr)
	case "openapi":
		return runOpenAPI(ctx, args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// envDefaults sets each flag not given on the command line from its
// OTPGATE_* variable (--data-dir -> OTPGATE_DATA_DIR).
func envDefaults(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := "OTPGATE_" + envName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", name, v, e)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	b := []byte(flagName)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// parseFlags parses args with env defaults; usage text goes to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return envDefaults(fs)
}
