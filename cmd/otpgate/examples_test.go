package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The examples under examples/, one per official Twilio SDK, run as a user
// runs them (README.md there), each against its own sandbox otpgate: make a
// Verify service, text a code, check a wrong code (not approved, exit 1),
// the code from the sandbox inbox (approved) and that code again (Twilio's
// error 20404, exit 2: an approved verification is gone).
func TestExamples(t *testing.T) {
	for _, ex := range []struct {
		name    string
		command func(t *testing.T) []string // the example's command line, before its arguments
	}{
		{"go", goExample},
		{"node", nodeExample},
		{"python", pythonExample},
	} {
		t.Run(ex.name, func(t *testing.T) {
			command := ex.command(t)
			s := mustServe(t, nil)
			number := "+962790390001"
			env := append(os.Environ(), "OTPGATE_URL="+s.URL, "OTPGATE_ACCOUNT_SID="+s.SID, "OTPGATE_AUTH_TOKEN="+s.Token)
			run := func(wantExit int, args ...string) string {
				t.Helper()
				out, stderr, code := runExample(t, command, env, args...)
				if code != wantExit {
					t.Fatalf("%s %s: exit %d, want %d\nstdout: %s\nstderr: %s", ex.name, strings.Join(args, " "), code, wantExit, out, stderr)
				}
				if wantExit == 2 {
					return stderr
				}
				return out
			}

			service := run(0, "service", "Example "+ex.name)
			if !regexp.MustCompile(`^VA[0-9a-f]{32}$`).MatchString(service) {
				t.Fatalf("service printed %q, want a service SID", service)
			}
			env = append(env, "OTPGATE_SERVICE_SID="+service)
			ve := run(0, "send", number)
			if r := call(t, "GET", s.URL+"/v2/Services/"+service+"/Verifications/"+ve, s.SID, s.Token, "", ""); r.Status != 200 || r.str("to") != number || r.str("status") != "pending" {
				t.Fatalf("send printed %q; that verification: %d %s", ve, r.Status, r.Raw)
			}
			code := s.codes(t, number, 1)[0]
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			if got := run(1, "check", number, wrong); got != "not approved (pending)" {
				t.Fatalf("check with a wrong code printed %q", got)
			}
			if got := run(0, "check", number, code); got != "approved" {
				t.Fatalf("check with the code printed %q", got)
			}
			if got := run(2, "check", number, code); !strings.HasPrefix(got, "error 20404 (HTTP 404): ") {
				t.Fatalf("check of an approved verification: stderr %q, want Twilio's error 20404", got)
			}
		})
	}
}

// runExample runs command with args and env, and returns its trimmed
// standard output and error and its exit code.
func runExample(t *testing.T, command, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, command[0], append(command[1:], args...)...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return strings.TrimSpace(out.String()), strings.TrimSpace(errOut.String()), cmd.ProcessState.ExitCode()
}

// goExample builds examples/go (twilio-go, a dependency of this module).
func goExample(t *testing.T) []string {
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/go").CombinedOutput(); err != nil {
		t.Fatalf("go build ../../examples/go: %v\n%s", err, out)
	}
	return []string{bin}
}

// nodeExample is examples/node with its locked twilio (.ci/run: npm ci --prefix examples/node).
func nodeExample(t *testing.T) []string {
	dir := filepath.Join("..", "..", "examples", "node")
	needNodePackages(t, dir, "twilio")
	return []string{"node", filepath.Join(dir, "verify.js")}
}

// pythonExample is examples/python on a python3 that has Debian's
// python3-twilio: PATH's python3 when it has it (a pyenv or venv one may
// not), else Debian's /usr/bin/python3.
func pythonExample(t *testing.T) []string {
	script := filepath.Join("..", "..", "examples", "python", "verify.py")
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import twilio").Run() == nil {
			return []string{py, script}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no python3 imports twilio, and CI is set: .ci/run installs it (apt-get install python3-twilio)")
	}
	t.Skipf("SKIPPING: no python3 imports twilio (apt-get install python3-twilio)")
	return nil
}
