package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// gitHead returns the checkout's commit, or skips the test outside one.
func gitHead(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		tb.Skipf("not in a git checkout (git rev-parse HEAD: %v): the build records no commit", err)
	}
	return strings.TrimSpace(string(out))
}

// A binary built in the checkout says which commit it was built from, and
// whether the tree had uncommitted changes, from what Go recorded in the
// build; -X main.version (what scripts/release.sh sets) names the version.
func TestVersionNamesTheCommit(t *testing.T) {
	before := gitHead(t)
	if st, err := os.Stat("../../.git"); err != nil || !st.IsDir() {
		t.Skip("the module root has no .git folder (a git worktree's .git is a file): Go records no VCS information there")
	}
	dirty, err := exec.Command("git", "status", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "otpgate")
	// -buildvcs=true: this machine's go env turns VCS stamping off.
	build := exec.Command("go", "build", "-buildvcs=true", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	after := gitHead(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("otpgate version: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if !strings.HasPrefix(line, "otpgate v9.8.7-test, commit "+before) && !strings.HasPrefix(line, "otpgate v9.8.7-test, commit "+after) {
		t.Fatalf("otpgate version = %q, want it to start with the version and commit %s", line, after)
	}
	if want := len(dirty) > 0; strings.Contains(line, "with uncommitted changes") != want {
		t.Errorf("otpgate version = %q; the tree had uncommitted changes: %v", line, want)
	}
	if !strings.HasSuffix(line, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("otpgate version = %q, want it to end with the Go version and os/arch", line)
	}

	out, err = exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("otpgate version --json: %v", err)
	}
	var b BuildInfo
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("otpgate version --json: %v\n%s", err, out)
	}
	if b.Version != "v9.8.7-test" || (b.Commit != before && b.Commit != after) || b.CommitTime == "" || b.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("otpgate version --json = %+v", b)
	}
}

// Without VCS information or -X values, the binary says it does not know
// its commit rather than printing an empty one.
func TestVersionWithoutCommit(t *testing.T) {
	b := BuildInfo{Version: "dev", GoVersion: "go1.26.0", Platform: "linux/arm64"}
	if got, want := b.String(), "otpgate dev, commit unknown (built outside a git checkout, without -X main.commit), go1.26.0 linux/arm64"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
