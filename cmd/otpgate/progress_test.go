package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/loadgen"
)

// onTerminal runs the built otpgate with args under script(1), which gives
// it a pseudo-terminal for stdout and stderr, and returns what the
// terminal showed.
func onTerminal(tb testing.TB, args ...string) string {
	tb.Helper()
	needTool(tb, "script", "bsdutils")
	line := shellQuote(mustBuild(tb))
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	out, err := exec.Command("script", "-qefc", line, "/dev/null").CombinedOutput()
	if err != nil {
		tb.Fatalf("script -c %s: %v\n%q", line, err, out)
	}
	return string(out)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// progressRE is a line rewritten in place: carriage return, text, erase.
var progressRE = regexp.MustCompile("\r(bench|copy): [^\r\n]*\x1b\\[K")

// otpgate bench shows a progress line on a terminal, rewritten in place,
// and erased before its report; piped (as scripts/bench.sh runs it), its
// output has no progress and no control characters, and the report reads
// as before.
func TestBenchProgressOnlyOnATerminal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	go loadgen.ServeNoop(ctx, "127.0.0.1:0", func(a net.Addr) { addr <- a })
	t.Cleanup(cancel)
	args := []string{"bench", "--url", "http://" + (<-addr).String(), "--sid", "ACx", "--token", "x",
		"--phases", "send", "--duration", "1500ms", "--warmup", "0s", "--concurrency", "2"}
	report := regexp.MustCompile(`(?m)^send\s+\d+\s+[\d.]+`) // what scripts/bench.sh's awk reads: $1 send, $3 requests/s

	term := onTerminal(t, args...)
	if shown := progressRE.FindAllString(term, -1); len(shown) < 2 || !strings.Contains(shown[0], "bench: [") || !strings.Contains(shown[0], "of 2s (send)") {
		t.Errorf("on a terminal, bench showed no progress line rewritten in place (%d found):\n%q", len(shown), term)
	}
	if !report.MatchString(strings.ReplaceAll(term, "\r\n", "\n")) {
		t.Errorf("on a terminal, no report:\n%q", term)
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(mustBuild(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	if out := stdout.String() + stderr.String(); strings.ContainsAny(out, "\r\x1b") || strings.Contains(out, "bench: [") {
		t.Errorf("piped, bench wrote progress:\n%q", out)
	}
	if !report.MatchString(stdout.String()) {
		t.Errorf("piped, the report is not what scripts read:\n%s", stdout.String())
	}
}

// otpgate copy shows a progress line on a terminal between the lines of
// the tables it copied; the table lines are the same as piped.
func TestCopyProgressOnATerminal(t *testing.T) {
	db := pgSchemaURL(t)
	dir := t.TempDir()
	for _, args := range [][]string{{"migrate", "--data-dir", dir}, {"accounts", "create", "--name", "progress", "--data-dir", dir}} {
		if out, err := exec.Command(mustBuild(t), args...).CombinedOutput(); err != nil {
			t.Fatalf("otpgate %v: %v\n%s", args, err, out)
		}
	}
	term := onTerminal(t, "copy", "--from", "sqlite:"+dir, "--to", db)
	if shown := progressRE.FindAllString(term, -1); len(shown) == 0 || !strings.Contains(shown[0], "copy: 0 tables, 0 rows") {
		t.Errorf("on a terminal, copy showed no progress line:\n%q", term)
	}
	// What remains on the screen once the progress lines are erased.
	screen := strings.ReplaceAll(strings.ReplaceAll(progressRE.ReplaceAllString(term, ""), "\r\x1b[K", ""), "\r\n", "\n")
	if !regexp.MustCompile(`(?m)^  accounts +1 rows$`).MatchString(screen) || !strings.Contains(screen, "\nCopied ") {
		t.Errorf("on a terminal, the table lines are not as before:\n%q", term)
	}
}
