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
//	otpgate backup --to FILE         copy the embedded database while the server runs
//	otpgate restore --from FILE      put a backup in place, the server stopped
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
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

const usage = `otpgate: phone verification (one-time codes) and SMS, self-hosted.

Usage:
  otpgate serve [flags]                 run the API server (see: otpgate serve --help)
  otpgate accounts create --name NAME   create an API account and print its SID and auth token
  otpgate accounts set --sid SID [--sms-url URL] [--countries LIST]
                                        where the account's inbound SMS are POSTed,
                                        and the countries it may send to
  otpgate accounts rotate-token|disable|enable --sid SID
                                        a new auth token (the old one stops at once);
                                        turn the account off (every token fails) or on
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
  otpgate backup --to FILE [--data-dir DIR | --db sqlite:PATH] [--force]
                                        copy the embedded database while the server runs
                                        (not the server secret: keep that apart)
  otpgate restore --from FILE --data-dir DIR [--force]
                                        put a backup in place, the server stopped
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
otpgate COMMAND --help prints a command's flags.
`

func main() {
	// The data directory holds secrets (the server secret, sandbox bodies):
	// everything otpgate creates is for its own user only.
	syscall.Umask(0o077)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if u, ok := errors.AsType[usageError](err); ok {
			fmt.Fprintln(os.Stderr, u)
		} else {
			fmt.Fprintln(os.Stderr, "otpgate:", err)
		}
		os.Exit(2)
	}
}

// command runs one of otpgate's commands with the arguments after its name.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands are otpgate's commands by name; a name not among them is
// answered with the nearest one.
var commands = map[string]command{
	"serve":          runServe,
	"accounts":       runAccounts,
	"services":       runServices,
	"migrate":        runMigrate,
	"operator-token": runOperatorToken,
	"console-token":  runOperatorToken,
	"policy":         runPolicy,
	"guard":          runGuard,
	"audit":          runAudit,
	"copy":           runCopy,
	"backup":         runBackup,
	"restore":        runRestore,
	"bench":          runBench,
	"noop-server":    runNoop,
	"smsc-sim":       runSMSCSim,
	"openapi":        runOpenAPI,
	"doctor":         runDoctor,
	"version": func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		return runVersion(args, stdout, stderr)
	},
}

// groups are the commands made of subcommands, and their usage, which
// names each subcommand on a line of its own ("otpgate policy set ...").
var groups = map[string]string{
	"accounts": accountsUsage,
	"services": servicesUsage,
	"policy":   policyUsage,
	"guard":    guardUsage,
}

// run runs the command args name. A command's --help (or -h) prints its
// usage on stdout and succeeds; a mistake on the command line is a
// usageError, one line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, stdout, stderr)
	if h, ok := errors.AsType[helpText](err); ok {
		_, err = io.WriteString(stdout, string(h))
	}
	return err
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			// otpgate help serve: otpgate serve --help.
			return runCommand(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		return helpText(usage)
	case "--version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		return usageError(fmt.Sprintf("otpgate: unknown command %q%s (otpgate --help lists them)",
			name, didYouMean(name, slices.Sorted(maps.Keys(commands)), "")))
	}
	if g, ok := groups[name]; ok && len(args) > 1 {
		if err := checkSubcommand(name, g, args[1]); err != nil {
			return err
		}
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// checkSubcommand answers otpgate GROUP --help with the group's usage, and a
// subcommand the group does not have with one line naming the nearest.
func checkSubcommand(group, groupUsage, sub string) error {
	subs := subcommands(group, groupUsage)
	switch {
	case sub == "help" || sub == "-h" || sub == "-help" || sub == "--help":
		return helpText(groupUsage + "\nEach subcommand's flags: otpgate " + group + " SUBCOMMAND --help\n")
	case slices.Contains(subs, sub):
		return nil
	case strings.HasPrefix(sub, "-"):
		return usageError(fmt.Sprintf("otpgate %s: the subcommand comes first: %s (otpgate %s --help)", group, strings.Join(subs, ", "), group))
	}
	return usageError(fmt.Sprintf("otpgate %s: unknown subcommand %q%s (otpgate %s --help lists them)",
		group, sub, didYouMean(sub, subs, ""), group))
}

// subcommands are the subcommands a group's usage names, in its order.
func subcommands(group, groupUsage string) []string {
	var subs []string
	for _, line := range strings.Split(groupUsage, "\n") {
		line = strings.TrimPrefix(line, "Usage:")
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "otpgate" && f[1] == group && !slices.Contains(subs, f[2]) {
			subs = append(subs, f[2])
		}
	}
	return subs
}

// subUsage is the usage of one subcommand of a group: its lines of the
// group's usage ("Usage: otpgate policy set ..." and the lines that
// continue it), then the text that follows the group's usage lines.
func subUsage(groupUsage, group, sub string) string {
	head, rest, _ := strings.Cut(groupUsage, "\n\n")
	var b strings.Builder
	in := false
	for _, line := range strings.Split(head, "\n") {
		if len(line) < len("Usage: ") {
			continue
		}
		text := line[len("Usage: "):] // "Usage: " and the lines under it are as wide
		switch {
		case strings.HasPrefix(text, "otpgate "):
			f := strings.Fields(text)
			in = len(f) >= 3 && f[1] == group && f[2] == sub
			if in {
				b.WriteString("Usage: " + text + "\n")
			}
		case in:
			b.WriteString(line + "\n")
		}
	}
	if rest != "" {
		b.WriteString("\n" + rest)
	}
	return b.String()
}

// helpText is the usage a command printed for --help: run writes it to
// stdout, and the command succeeds.
type helpText string

func (h helpText) Error() string { return "help requested" }

// Is makes a helpText flag.ErrHelp, what the flag package returns for -h.
func (h helpText) Is(target error) bool { return target == flag.ErrHelp }

// usageError is a mistake on the command line, said in one line that names
// the command and where to read its usage; main prints it as it is.
type usageError string

func (e usageError) Error() string { return string(e) }

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

// parseFlags parses args with env defaults. --help (or -h) returns the
// command's usage as a helpText; a flag it does not know, a flag without
// its value or an argument it does not take is a usageError: one line
// that names the flag and, for a mistyped one, the nearest flag it has.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	var out strings.Builder
	fs.SetOutput(&out) // the usage, for --help; on a mistake only one line is said
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	name := fs.Name()
	if !strings.HasPrefix(name, "otpgate") {
		name = "otpgate " + name
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return helpText(out.String())
	case err != nil:
		return usageError(name + ": " + flagProblem(fs, err, name))
	case fs.NArg() > 0:
		return usageError(fmt.Sprintf("%s: unexpected argument %q; it takes flags only (%s --help lists them)", name, fs.Arg(0), name))
	}
	return envDefaults(fs)
}

// flagProblem says what the flag package found wrong with the command
// line of command name, with flags written --name.
func flagProblem(fs *flag.FlagSet, err error, name string) string {
	msg := err.Error()
	if typed, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		typed = strings.TrimLeft(typed, "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		return "unknown flag --" + typed + didYouMean(typed, names, "--") + " (" + name + " --help lists them)"
	}
	if f, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		msg = "--" + strings.TrimLeft(f, "-") + " needs a value"
	} else {
		// invalid value "x" for flag -port: ...; invalid boolean value "x" for -json: ...
		msg = flagNameRE.ReplaceAllString(msg, "for --$1")
	}
	return msg + " (see " + name + " --help)"
}

var flagNameRE = regexp.MustCompile(`for (?:flag )?-+([A-Za-z0-9][\w.-]*)`)

// didYouMean is "; did you mean PREFIXname?" for the name nearest to typed,
// or "" when none is near enough to be what was meant.
func didYouMean(typed string, names []string, prefix string) string {
	best, bestDist := "", max(2, len(typed)/3)+1
	for _, n := range names {
		d := editDistance(typed, n)
		if len(typed) >= 3 && strings.HasPrefix(n, typed) {
			d = min(d, 1) // the start of a longer name
		}
		if d < bestDist && d < len(typed) {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + prefix + best + "?"
}

// editDistance is the number of single-character insertions, deletions,
// substitutions and transpositions of neighbours that turn a into b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// printFlags writes fs's flags as otpgate's command lines spell them, in
// place of fs.PrintDefaults:
//
//	--name VALUE          what it does (default x)
//
// the words beside the name, or under it when the name is long, wrapped at
// 80 columns. With names, only those flags.
func printFlags(w io.Writer, fs *flag.FlagSet, names ...string) {
	const col, width = 24, 80
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if len(names) > 0 && !slices.Contains(names, f.Name) {
			return
		}
		value, words := flag.UnquoteUsage(f)
		left := "  --" + f.Name
		if value != "" {
			left += " " + value
		}
		if def := flagDefault(f); def != "" {
			words += " (default " + def + ")"
		}
		b.WriteString(left)
		if len(left) > col-2 {
			b.WriteString("\n" + strings.Repeat(" ", col))
		} else {
			b.WriteString(strings.Repeat(" ", col-len(left)))
		}
		b.WriteString(strings.Join(wrap(words, width-col), "\n"+strings.Repeat(" ", col)))
		b.WriteString("\n")
	})
	io.WriteString(w, b.String())
}

// flagDefault is a flag's default as its usage shows it, or "" for the
// zero value, which goes without saying (as fs.PrintDefaults does).
func flagDefault(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "0s", "false", "[]":
		return ""
	}
	if fmt.Sprintf("%T", f.Value) == "*flag.stringValue" {
		return strconv.Quote(f.DefValue)
	}
	return f.DefValue
}

// wrap cuts text into lines of at most width characters, at spaces; a
// word longer than width has a line of its own.
func wrap(text string, width int) []string {
	var lines []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		words := strings.Fields(para)
		for i := 0; i < len(words); i++ {
			word := words[i]
			if word == "(default" && i+1 < len(words) {
				word += " " + words[i+1] // "(default x)" stays on one line
				i++
			}
			switch {
			case line == "":
				line = word
			case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width:
				lines = append(lines, line)
				line = word
			default:
				line += " " + word
			}
		}
		lines = append(lines, line)
	}
	return lines
}
