package main

import (
	"bytes"
	"errors"
	"flag"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// usageCommands are the command lines otpgate --help names ("serve",
// "accounts create", "policy show", ...), alternatives (show|set|list)
// spelt out.
func usageCommands(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if !strings.HasPrefix(line, "  otpgate ") || len(f) < 2 {
			continue
		}
		if _, ok := groups[f[1]]; !ok {
			out = append(out, []string{f[1]})
			continue
		}
		for _, sub := range strings.Split(f[2], "|") {
			out = append(out, []string{f[1], sub})
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d commands found in the usage: %v", len(out), out)
	}
	return out
}

// singleDashFlag is a flag written as Go's flag package prints it (-name).
var singleDashFlag = regexp.MustCompile(`(?m)^\s+-[a-z]`)

// Every command and subcommand otpgate --help names answers --help and -h
// with its own usage (its own first line, flags written --name) on stdout,
// and succeeds.
func TestHelpOfEveryCommand(t *testing.T) {
	listed := map[string]bool{}
	for _, cmd := range usageCommands(t) {
		listed[cmd[0]] = true
		for _, help := range []string{"--help", "-h"} {
			t.Run(strings.Join(cmd, "_")+help, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if err := run(t.Context(), append(slices.Clone(cmd), help), &stdout, &stderr); err != nil {
					t.Fatalf("otpgate %s %s: %v", strings.Join(cmd, " "), help, err)
				}
				out := stdout.String()
				first, _, _ := strings.Cut(out, "\n")
				if want := "Usage: otpgate " + strings.Join(cmd, " "); !strings.HasPrefix(first, want) {
					t.Errorf("first line %q, want it to start %q", first, want)
				}
				if !strings.Contains(out, "\n  --") {
					t.Errorf("no flag written --name:\n%s", out)
				}
				if singleDashFlag.MatchString(out) {
					t.Errorf("a flag written -name:\n%s", out)
				}
				if stderr.Len() > 0 {
					t.Errorf("stderr: %s", stderr.String())
				}
			})
		}
	}
	// otpgate --help names every command (console-token is another name).
	for name := range commands {
		if !listed[name] && name != "console-token" {
			t.Errorf("otpgate --help does not name the command %s", name)
		}
	}
}

// A group's --help (and -h, and help) is the group's usage, naming each
// subcommand; otpgate --help and otpgate help CMD succeed too.
func TestHelpOfGroups(t *testing.T) {
	for group := range groups {
		for _, help := range []string{"--help", "-h", "help"} {
			var stdout bytes.Buffer
			if err := run(t.Context(), []string{group, help}, &stdout, &stdout); err != nil {
				t.Fatalf("otpgate %s %s: %v", group, help, err)
			}
			out := stdout.String()
			if !strings.HasPrefix(out, "Usage: otpgate "+group+" ") {
				t.Errorf("otpgate %s %s:\n%s", group, help, out)
			}
			for _, sub := range subcommands(group, groups[group]) {
				if !strings.Contains(out, "otpgate "+group+" "+sub+" ") {
					t.Errorf("otpgate %s %s does not name %s:\n%s", group, help, sub, out)
				}
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var stdout bytes.Buffer
		if err := run(t.Context(), args, &stdout, &stdout); err != nil || !strings.HasPrefix(stdout.String(), "otpgate: phone verification") {
			t.Errorf("otpgate %s: %v\n%s", args[0], err, stdout.String())
		}
	}
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"help", "migrate"}, &stdout, &stdout); err != nil || !strings.HasPrefix(stdout.String(), "Usage: otpgate migrate") {
		t.Errorf("otpgate help migrate: %v\n%s", err, stdout.String())
	}
}

// A mistake on the command line is one line that names the command, the
// flag or argument at fault and, when one is near, what was meant; nothing
// else is printed, and otpgate exits 2.
func TestMistypedFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--adr", "127.0.0.1:0"}, `otpgate serve: unknown flag --adr; did you mean --addr? (otpgate serve --help lists them)`},
		{[]string{"serve", "-data=x"}, `otpgate serve: unknown flag --data; did you mean --data-dir? (otpgate serve --help lists them)`},
		{[]string{"serve", "--zzzzzz"}, `otpgate serve: unknown flag --zzzzzz (otpgate serve --help lists them)`},
		{[]string{"bench", "--tokne", "x"}, `otpgate bench: unknown flag --tokne; did you mean --token? (otpgate bench --help lists them)`},
		{[]string{"accounts", "rotate-token", "--sdi", "AC1"}, `otpgate accounts rotate-token: unknown flag --sdi; did you mean --sid? (otpgate accounts rotate-token --help lists them)`},
		{[]string{"policy", "set", "--dialy-budget", "5"}, `otpgate policy set: unknown flag --dialy-budget; did you mean --daily-budget? (otpgate policy set --help lists them)`},
		{[]string{"openapi", "--postmen"}, `otpgate openapi: unknown flag --postmen; did you mean --postman? (otpgate openapi --help lists them)`},
		{[]string{"accounts", "create", "--name"}, `otpgate accounts create: --name needs a value (see otpgate accounts create --help)`},
		{[]string{"doctor", "--timeout", "soon"}, `otpgate doctor: invalid value "soon" for --timeout: parse error (see otpgate doctor --help)`},
		{[]string{"migrate", "now"}, `otpgate migrate: unexpected argument "now"; it takes flags only (otpgate migrate --help lists them)`},
		{[]string{"serv"}, `otpgate: unknown command "serv"; did you mean serve? (otpgate --help lists them)`},
		{[]string{"frobnicate"}, `otpgate: unknown command "frobnicate" (otpgate --help lists them)`},
		{[]string{"accounts", "rotate"}, `otpgate accounts: unknown subcommand "rotate"; did you mean rotate-token? (otpgate accounts --help lists them)`},
		{[]string{"guard", "lfit"}, `otpgate guard: unknown subcommand "lfit"; did you mean lift? (otpgate guard --help lists them)`},
		{[]string{"accounts", "--sid", "AC1"}, `otpgate accounts: the subcommand comes first: create, set, rotate-token, disable, enable (otpgate accounts --help)`},
	} {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			u, ok := errors.AsType[usageError](err)
			if !ok {
				t.Fatalf("err = %v, want a usageError", err)
			}
			if string(u) != tt.want {
				t.Errorf("got  %s\nwant %s", u, tt.want)
			}
			if stdout.Len()+stderr.Len() > 0 {
				t.Errorf("printed more than the one line:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
			}
		})
	}
}

// Through the real binary: --help exits 0 with the usage on stdout; a
// mistyped flag exits 2 with one line on stderr.
func TestHelpAndFlagExitCodes(t *testing.T) {
	bin := mustBuild(t)
	for _, tt := range []struct {
		args       []string
		code       int
		stdout     string // its first line starts so
		stderrLine string // the whole of stderr, one line
	}{
		{[]string{"--help"}, 0, "otpgate: phone verification", ""},
		{[]string{"serve", "--help"}, 0, "Usage: otpgate serve", ""},
		{[]string{"accounts", "rotate-token", "--help"}, 0, "Usage: otpgate accounts rotate-token", ""},
		{[]string{"policy", "-h"}, 0, "Usage: otpgate policy show", ""},
		{[]string{"doctor", "--help"}, 0, "Usage: otpgate doctor", ""},
		{[]string{"serve", "--adr", "127.0.0.1:0"}, 2, "", "otpgate serve: unknown flag --adr; did you mean --addr? (otpgate serve --help lists them)"},
		{[]string{"accounts", "rotate"}, 2, "", `otpgate accounts: unknown subcommand "rotate"; did you mean rotate-token? (otpgate accounts --help lists them)`},
	} {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.WaitDelay = 10 * time.Second
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) || (tt.stdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %.200q, want it to start %q", stdout.String(), tt.stdout)
			}
			want := ""
			if tt.stderrLine != "" {
				want = tt.stderrLine + "\n"
			}
			if stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr.String(), want)
			}
		})
	}
}

// printFlags writes --name, the value's kind, the words and the default
// (none for a zero value), the words under a long name, wrapped at 80.
func TestPrintFlags(t *testing.T) {
	fs := flag.NewFlagSet("otpgate x", flag.ContinueOnError)
	fs.String("addr", "127.0.0.1:8080", "address to listen on")
	fs.Bool("json", false, "print it as JSON")
	fs.Duration("receipt-delay-long-name", time.Second, "delay before a delivery receipt, sent when the submit_sm asks for one, which is most of the time in practice")
	fs.Int("max-tps", 0, "0: unlimited")
	fs.Func("countries", "ISO codes, comma-separated", func(string) error { return nil })
	var b bytes.Buffer
	printFlags(&b, fs)
	want := `  --addr string         address to listen on (default "127.0.0.1:8080")
  --countries value     ISO codes, comma-separated
  --json                print it as JSON
  --max-tps int         0: unlimited
  --receipt-delay-long-name duration
                        delay before a delivery receipt, sent when the submit_sm
                        asks for one, which is most of the time in practice
                        (default 1s)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printFlags(&b, fs, "json")
	if b.String() != "  --json                print it as JSON\n" {
		t.Errorf("only --json: %q", b.String())
	}
}

func TestDidYouMean(t *testing.T) {
	names := []string{"addr", "data-dir", "db", "token", "limit-per-number", "limit-per-key"}
	for typed, want := range map[string]string{
		"adr":              "; did you mean --addr?",
		"addr2":            "; did you mean --addr?",
		"tokne":            "; did you mean --token?",
		"datadir":          "; did you mean --data-dir?",
		"data":             "; did you mean --data-dir?",
		"limit-per-numbr":  "; did you mean --limit-per-number?",
		"x":                "",
		"zzzzzz":           "",
		"completely-other": "",
	} {
		if got := didYouMean(typed, names, "--"); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", typed, got, want)
		}
	}
}
