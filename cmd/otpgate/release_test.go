package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/smscsim"
)

var (
	releaseOnce sync.Once
	releaseDir  string
	releaseErr  error
	releaseOut  string
)

const releaseVersion = "v0.0.0-releasetest"

// mustRelease runs scripts/release.sh once per test run, for this machine's
// architecture, or for every architecture it builds when
// OTPGATE_RELEASE_ALL=1 (a cold cross-build costs about 1.5 min a platform
// on 2 cores).
func mustRelease(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		tb.Skip("bash is not installed")
	}
	releaseOnce.Do(func() {
		releaseDir, releaseErr = os.MkdirTemp("", "otpgate-dist")
		if releaseErr != nil {
			return
		}
		var args []string
		if os.Getenv("OTPGATE_RELEASE_ALL") == "" {
			args = []string{"linux/" + runtime.GOARCH}
		}
		cmd := exec.Command("../../scripts/release.sh", args...)
		cmd.Env = append(os.Environ(), "OUT="+releaseDir, "VERSION="+releaseVersion)
		out, err := cmd.CombinedOutput()
		releaseOut = string(out)
		if err != nil {
			releaseErr = err
		}
	})
	if releaseErr != nil {
		tb.Fatalf("scripts/release.sh: %v\n%s", releaseErr, releaseOut)
	}
	return releaseDir
}

// scripts/release.sh makes static binaries: no dynamic loader, no shared
// library (they run on any Linux of their architecture, musl or glibc or an
// empty image), listed in SHA256SUMS with their tarballs, which hold the
// unit and the config reference; the one for this machine prints the
// version and the commit it was built from.
func TestReleaseScript(t *testing.T) {
	head := gitHead(t)
	start := time.Now()
	dir := mustRelease(t)
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Logf("scripts/release.sh took %s:\n%s", time.Since(start).Round(time.Second), releaseOut)

	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("SHA256SUMS lists %s: %v", name, err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", name)
		}
		listed[name] = true
	}

	bins, _ := filepath.Glob(filepath.Join(dir, "otpgate-"+releaseVersion+"-linux-*"))
	native := false
	for _, bin := range bins {
		if strings.HasSuffix(bin, ".tar.gz") {
			continue
		}
		name := filepath.Base(bin)
		arch := strings.TrimPrefix(name, "otpgate-"+releaseVersion+"-linux-")
		if !listed[name] || !listed[name+".tar.gz"] {
			t.Errorf("SHA256SUMS does not list %s and its tarball", name)
		}
		st, _ := os.Stat(bin)
		t.Logf("%s: %.1f MiB", name, float64(st.Size())/(1<<20))
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
		if f.Machine != want {
			t.Errorf("%s: ELF machine %v, want %v", name, f.Machine, want)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s has a %v program header: it is not static", name, p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v", name, libs)
		}
		f.Close()
		checkTarball(t, bin+".tar.gz", name)

		if arch != runtime.GOARCH {
			continue
		}
		native = true
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", name, err)
		}
		line := strings.TrimSpace(string(out))
		m := regexp.MustCompile(`^otpgate ` + regexp.QuoteMeta(releaseVersion) + `, commit ([0-9a-f]{40}), go\S+ linux/` + arch + `$`).FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s version = %q, want the version %s, a commit, Go and linux/%s", name, line, releaseVersion, arch)
			continue
		}
		// Others may commit while the script runs: the commit it names is
		// this checkout's HEAD then, or an ancestor of HEAD now.
		if m[1] != head {
			if out, err := exec.Command("git", "merge-base", "--is-ancestor", m[1], "HEAD").CombinedOutput(); err != nil {
				t.Errorf("%s version names commit %s, not this checkout's HEAD %s (%v %s)", name, m[1], head, err, out)
			}
		}
	}
	if !native {
		t.Errorf("no binary for linux/%s in %v", runtime.GOARCH, bins)
	}
}

func checkTarball(t *testing.T, path, name string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(gz)
	have := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s is owned by %d:%d, want root", path, h.Name, h.Uid, h.Gid)
		}
		have[h.Name] = true
	}
	for _, want := range []string{"otpgate", "packaging/otpgate.service", "packaging/otpgate.env.example", "docs/config.md", "README.md"} {
		if !have[name+"/"+want] {
			t.Errorf("%s has no %s", path, want)
		}
	}
}

// packaging/otpgate.service passes systemd-analyze verify (no unknown key,
// no bad value) and keeps its hardening; and every system call otpgate
// makes while it serves (starting, binding an SMSC, sending a code over
// SMPP, SIGHUP, SIGTERM), traced with strace, is one its SystemCallFilter
// allows: the unit would not kill it with SIGSYS.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../packaging/otpgate.service")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet": "",
		"MemoryDenyWriteExecute": "yes", "Restart": "on-failure", "StateDirectory": "otpgate", "User": "otpgate",
		"EnvironmentFile": "/etc/otpgate/otpgate.env", "ExecReload": "/bin/kill -HUP $MAINPID", "LimitNOFILE": "65536",
	} {
		if got := settings[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if f := settings["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", f)
	}

	needTool(t, "systemd-analyze", "systemd")
	bin := mustBuild(t)
	tmp := t.TempDir()
	path := filepath.Join(tmp, "otpgate.service")
	// verify checks that ExecStart exists: point it at the binary built here.
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/otpgate", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		// verify exits 0 on unknown keys and bad values: its output counts.
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	allowed := syscallSet(t, settings["SystemCallFilter"])
	needTool(t, "strace", "strace")
	sim := smscsim.New(smscsim.Config{})
	simAddr, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	trace := filepath.Join(tmp, "strace.txt")
	addr := freeAddr(t)
	c := &child{url: "http://" + addr}
	c.cmd = exec.Command("strace", "-f", "-qq", "-o", trace, bin, "serve", "--abuse-guard=off", "--addr", addr,
		"--data-dir", filepath.Join(tmp, "data"), "--log-level", "warn", "--smpp", "smpp://otpgate:pw@"+simAddr.String()+"?name=sim")
	startCmd(t, c)
	t.Cleanup(func() {
		// Killing strace would leave otpgate running, detached.
		if b, _ := os.ReadFile(trace); len(b) > 0 {
			syscall.Kill(tracedPID(t, trace), syscall.SIGKILL)
		}
	})
	s := c.server(t)
	if r := s.send(t, "Strace", "0790000001"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	for deadline := time.Now().Add(10 * time.Second); sim.Count() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the code did not reach the SMSC")
		}
	}
	pid := tracedPID(t, trace)
	syscall.Kill(pid, syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("otpgate under strace: %v\n%s", err, c.output())
	}
	used := map[string]bool{}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\(`)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			used[m[1]] = true
		}
	}
	var denied []string
	for name := range used {
		if !allowed[name] {
			denied = append(denied, name)
		}
	}
	if len(denied) > 0 {
		t.Errorf("otpgate made system calls the unit's SystemCallFilter denies: %v", denied)
	} else {
		t.Logf("%d distinct system calls, all allowed", len(used))
	}
}

// needTool skips the test when a command is missing, saying how to install
// it, unless CI is set: then it fails (.ci/run installs it).
func needTool(tb testing.TB, command, pkg string) {
	tb.Helper()
	if _, err := exec.LookPath(command); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s is not installed, and CI is set: .ci/run installs it (apt-get install %s)", command, pkg)
	}
	tb.Skipf("SKIPPING: %s is not installed (apt-get install %s)", command, pkg)
}

// needNodePackages skips the test when node or one of the npm packages
// under dir/node_modules is missing, saying how to install them, unless CI
// is set: then it fails (.ci/run installs node and runs npm ci --prefix dir).
func needNodePackages(tb testing.TB, dir string, packages ...string) {
	tb.Helper()
	needTool(tb, "node", "nodejs npm")
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p)); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%s is not installed, and CI is set: .ci/run runs npm ci --prefix %s: %v", p, dir, err)
			}
			tb.Skipf("SKIPPING: %s is not installed (npm ci --prefix %s)", p, dir)
		}
	}
}

// tracedPID is the first process strace followed: otpgate.
func tracedPID(t *testing.T, trace string) int {
	t.Helper()
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if m := regexp.MustCompile(`^(\d+)\s`).FindSubmatch(b); m != nil {
		for _, c := range m[1] {
			pid = pid*10 + int(c-'0')
		}
	}
	if pid == 0 {
		t.Fatalf("no pid in the trace")
	}
	return pid
}

// syscallSet expands SystemCallFilter= lines (an allow list, then ~deny
// lists) into the system calls they allow, with systemd-analyze.
func syscallSet(t *testing.T, filters []string) map[string]bool {
	t.Helper()
	var expand func(group string, into map[string]bool)
	expand = func(group string, into map[string]bool) {
		out, err := exec.Command("systemd-analyze", "syscall-filter", group).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", group, err)
		}
		for _, line := range strings.Split(string(out), "\n")[1:] {
			name := strings.TrimSpace(line)
			switch {
			case name == "" || strings.HasPrefix(name, "#"):
			case strings.HasPrefix(name, "@"):
				expand(name, into)
			default:
				into[name] = true
			}
		}
	}
	allowed := map[string]bool{}
	for _, f := range filters {
		deny := strings.HasPrefix(f, "~")
		set := map[string]bool{}
		for _, item := range strings.Fields(strings.TrimPrefix(f, "~")) {
			if strings.HasPrefix(item, "@") {
				expand(item, set)
			} else {
				set[item] = true
			}
		}
		for name := range set {
			if deny {
				delete(allowed, name)
			} else {
				allowed[name] = true
			}
		}
	}
	return allowed
}
