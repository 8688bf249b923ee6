package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/smpptest"
	"github.com/otpgate/otpgate/internal/smscsim"
	"github.com/otpgate/otpgate/internal/smtptest"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// runDoctorBinary runs the built `otpgate doctor` with args and extra
// environment, and returns its exit code, stdout and stderr.
func runDoctorBinary(tb testing.TB, env []string, args ...string) (int, string, string) {
	tb.Helper()
	cmd := exec.Command(mustBuild(tb), append([]string{"doctor"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		tb.Fatalf("otpgate doctor: %v", err)
	}
	return code, stdout.String(), stderr.String()
}

// silentListener accepts connections and never answers: an address that
// is not an SMPP port.
func silentListener(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// otpgate doctor, run as its own process, binds each connector of a config
// file and says per connector what happened, in words: a good bind to
// node-smpp and a txrx pair to the simulator (both unbound again), a wrong
// password, nothing listening, a port that never answers, a password
// variable that is not set. It exits non-zero when any failed, 0 when all
// bound, and never prints a password.
func TestDoctorConnectors(t *testing.T) {
	const (
		zainPW   = "zPw7421x" // at most 8 characters (SMPP 3.4)
		simPW    = "sPw9133y"
		wrongPW  = "wPw5508z"
		silentPW = "qPw6612v"
	)
	peer := smpptest.Start(t, smpptest.Options{SystemID: "otpgate", Password: zainPW})
	simLog := &syncbuf.Buffer{}
	sim := smscsim.New(smscsim.Config{SystemID: "otpgate", Password: simPW, Log: simLog, Verbose: true})
	simAddr, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	down := freeAddr(t)
	silent := silentListener(t)
	env := []string{"ZAIN_PW=" + zainPW, "UMNIAH_PW=" + simPW, "ORANGE_PW=" + wrongPW}

	good := []ConnectorConfig{
		{Name: "zain", URL: "smpp://otpgate:$ZAIN_PW@" + peer.Addr + "?bind=trx"},
		{Name: "umniah", URL: "smpp://otpgate:$UMNIAH_PW@" + simAddr.String() + "?bind=txrx"},
	}
	bad := []ConnectorConfig{
		{Name: "orange", URL: "smpp://otpgate:$ORANGE_PW@" + simAddr.String()},
		{Name: "down", URL: "smpp://otpgate:" + silentPW + "@" + down},
		{Name: "silent", URL: "smpp://otpgate:" + silentPW + "@" + silent},
		{Name: "noenv", URL: "smpp://otpgate:$OTPGATE_TEST_UNSET_PW@" + simAddr.String()},
	}
	args := func(conns []ConnectorConfig) []string {
		b, err := json.Marshal(FileConfig{Connectors: conns})
		if err != nil {
			t.Fatal(err)
		}
		cfg := writeConfig(t, string(b))
		return []string{"--config", cfg, "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--timeout", "1s"}
	}
	noPasswords := func(t *testing.T, out string) {
		t.Helper()
		for _, pw := range []string{zainPW, simPW, wrongPW, silentPW} {
			if strings.Contains(out, pw) {
				t.Errorf("the output holds a password:\n%s", out)
			}
		}
	}
	ms := `(\d+ ms|under 1 ms)`

	t.Run("bad", func(t *testing.T) {
		start := time.Now()
		code, stdout, stderr := runDoctorBinary(t, env, args(append(append([]ConnectorConfig{}, good...), bad...))...)
		took := time.Since(start)
		t.Logf("otpgate doctor (exit %d, %s):\n%s%s", code, took.Round(time.Millisecond), stdout, stderr)
		if code == 0 {
			t.Errorf("exit status 0, want non-zero: four connectors failed")
		}
		for _, want := range []string{
			`(?m)^ok    connector zain: bound to ` + regexp.QuoteMeta(peer.Addr) + ` as system_id otpgate \(bind_transceiver\) in ` + ms + `; unbound$`,
			`(?m)^ok    connector umniah: bound to ` + regexp.QuoteMeta(simAddr.String()) + ` as system_id otpgate \(bind_transmitter and bind_receiver\) in ` + ms + ` and ` + ms + `; unbound$`,
			`(?m)^FAIL  connector orange: the SMSC at ` + regexp.QuoteMeta(simAddr.String()) + ` refused the bind_transceiver as system_id otpgate: bind failed \(ESME_RBINDFAIL, 0x0000000D\); check the system_id and password`,
			`(?m)^FAIL  connector down: cannot connect to ` + regexp.QuoteMeta(down) + `: connection refused$`,
			`(?m)^FAIL  connector silent: connected to ` + regexp.QuoteMeta(silent) + `, but no answer to bind_transceiver within 1s`,
			`(?m)^FAIL  connector noenv: its password is \$OTPGATE_TEST_UNSET_PW, and the environment variable OTPGATE_TEST_UNSET_PW is not set`,
			`(?m)^ok    config .*otpgate.json: 6 connectors, 0 routes`,
		} {
			if !regexp.MustCompile(want).MatchString(stdout) {
				t.Errorf("the report has no line matching %s", want)
			}
		}
		if !regexp.MustCompile(`^otpgate: doctor: 4 of \d+ checks failed\n$`).MatchString(stderr) {
			t.Errorf("stderr = %q, want the count of failed checks", stderr)
		}
		noPasswords(t, stdout+stderr)
		// Probes run at once: four 1 s waits at most, not one after another.
		if took > 6*time.Second {
			t.Errorf("doctor took %s with --timeout 1s", took)
		}
	})

	t.Run("good", func(t *testing.T) {
		bindsBefore := len(peer.Binds())
		unbindsBefore := strings.Count(simLog.String(), " unbind seq=")
		code, stdout, stderr := runDoctorBinary(t, env, args(good)...)
		t.Logf("otpgate doctor (exit %d):\n%s%s", code, stdout, stderr)
		if code != 0 {
			t.Errorf("exit status %d, want 0: every connector bound", code)
		}
		if !regexp.MustCompile(`(?m)^All \d+ checks passed\.$`).MatchString(stdout) || strings.Contains(stdout, "FAIL") {
			t.Errorf("the report does not say that all checks passed")
		}
		noPasswords(t, stdout+stderr)
		// What the SMSCs saw: node-smpp one accepted bind_transceiver, the
		// simulator two unbinds (the transmitter and the receiver).
		binds := peer.Binds()[bindsBefore:]
		if len(binds) != 1 || binds[0].Command != "bind_transceiver" || binds[0].CommandStatus != 0 || binds[0].SystemID != "otpgate" {
			t.Errorf("node-smpp saw binds %+v, want one accepted bind_transceiver", binds)
		}
		if n := strings.Count(simLog.String(), " unbind seq=") - unbindsBefore; n != 2 {
			t.Errorf("the simulator saw %d unbinds, want 2", n)
		}
	})
}

// The doctor checks where serve keeps its data: a data directory that is
// a file, a database without the secret it was made with, PostgreSQL
// reachable and writable, and PostgreSQL not reachable (its password not
// printed).
func TestDoctorStorage(t *testing.T) {
	common := []string{"--addr", "127.0.0.1:0", "--timeout", "2s"}
	t.Run("data dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-dir")
		os.WriteFile(file, nil, 0o600)
		code, stdout, _ := runDoctorBinary(t, nil, append(common, "--data-dir", file)...)
		if code == 0 || !strings.Contains(stdout, "FAIL  data directory "+file+" is not a directory") {
			t.Errorf("exit %d, report:\n%s", code, stdout)
		}
	})
	t.Run("database without its secret", func(t *testing.T) {
		dir := t.TempDir()
		if out, err := exec.Command(mustBuild(t), "migrate", "--data-dir", dir).CombinedOutput(); err != nil {
			t.Fatalf("otpgate migrate: %v\n%s", err, out)
		}
		code, stdout, _ := runDoctorBinary(t, nil, append(common, "--data-dir", dir)...)
		if code == 0 || !strings.Contains(stdout, "FAIL  secret: "+filepath.Join(dir, "secret")+" is missing, but the database exists") ||
			!regexp.MustCompile(`(?m)^ok    database: SQLite .*otpgate.db: writable; schema version \d+, current$`).MatchString(stdout) {
			t.Errorf("exit %d, report:\n%s", code, stdout)
		}
	})
	t.Run("PostgreSQL reachable", func(t *testing.T) {
		pg := os.Getenv("OTPGATE_TEST_PG")
		if pg == "" {
			t.Skip("OTPGATE_TEST_PG is not set")
		}
		code, stdout, stderr := runDoctorBinary(t, nil, append(common, "--data-dir", t.TempDir(), "--db", pg, "--secret-file", writeSecret(t))...)
		if code != 0 || !regexp.MustCompile(`(?m)^ok    database: PostgreSQL \S+.* at 127\.0\.0\.1:5432 as postgres, database \S+: reachable and writable; `).MatchString(stdout) {
			t.Errorf("exit %d, report:\n%s%s", code, stdout, stderr)
		}
	})
	t.Run("PostgreSQL not reachable", func(t *testing.T) {
		const pw = "pgPw83307"
		addr := freeAddr(t)
		code, stdout, stderr := runDoctorBinary(t, []string{"DOCTOR_PG_PW=" + pw},
			append(common, "--data-dir", t.TempDir(), "--db", "postgres://otpgate:$DOCTOR_PG_PW@"+addr+"/otpgate")...)
		if code == 0 || !strings.Contains(stdout, "FAIL  database: cannot reach PostgreSQL at "+addr+" as otpgate, database otpgate") ||
			strings.Contains(stdout+stderr, pw) {
			t.Errorf("exit %d, report:\n%s%s", code, stdout, stderr)
		}
	})
}

func writeSecret(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// otpgate doctor checks the SMTP relay as a send reaches it: a relay with
// STARTTLS and AUTH answers; a wrong password, a relay without STARTTLS, a
// password variable that is not set and --smtp-from without --smtp fail,
// each saying why; no password is printed.
func TestDoctorEmail(t *testing.T) {
	const pw = "relayPw5521"
	relay := smtptest.Start(t, smtptest.Options{TLS: true, User: "relay", Pass: pw})
	plain := smtptest.Start(t, smtptest.Options{})
	common := []string{"--addr", "127.0.0.1:0", "--timeout", "5s", "--data-dir", t.TempDir(), "--smtp-from", "codes@example.com"}
	env := []string{"DOCTOR_SMTP_PW=" + pw, "DOCTOR_SMTP_WRONG=wrong" + pw}
	for _, tc := range []struct {
		name, smtp, says string
		ok               bool
	}{
		{"good", "smtp://relay:$DOCTOR_SMTP_PW@" + relay.Addr() + "?ca=" + relay.CAFile, "ok    email: relay smtp://relay:***@" + relay.Addr() + " answers (STARTTLS, AUTH as relay); codes go from codes@example.com", true},
		{"wrong password", "smtp://relay:$DOCTOR_SMTP_WRONG@" + relay.Addr() + "?timeout=3s&ca=" + relay.CAFile, "FAIL  email: SMTP relay smtp://relay:***@" + relay.Addr(), false},
		{"no STARTTLS", "smtp://" + plain.Addr(), "FAIL  email: SMTP relay smtp://" + plain.Addr(), false},
		{"variable not set", "smtp://relay:$DOCTOR_SMTP_NOPE@" + relay.Addr(), "FAIL  email: --smtp: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runDoctorBinary(t, env, append(common, "--smtp", tc.smtp)...)
			line := ""
			for l := range strings.Lines(stdout) {
				if strings.Contains(l, "email:") {
					line = strings.TrimSpace(l)
				}
			}
			if !strings.HasPrefix(line, tc.says) || (code == 0) != tc.ok || strings.Contains(stdout+stderr, pw) {
				t.Errorf("exit %d, email line %q, want it to start %q; report:\n%s%s", code, line, tc.says, stdout, stderr)
			} else {
				t.Log(line)
			}
		})
	}
	code, stdout, _ := runDoctorBinary(t, nil, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--smtp-from", "codes@example.com")
	if code == 0 || !strings.Contains(stdout, "FAIL  email: --smtp-from is set but --smtp is not") {
		t.Errorf("--smtp-from alone: exit %d, report:\n%s", code, stdout)
	}
}
