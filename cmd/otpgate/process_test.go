package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/otpgate/otpgate/internal/smpptest"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// mustBuild builds the otpgate binary once per test run.
func mustBuild(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "otpgate-bin")
		if binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "otpgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		tb.Fatal(binError)
	}
	return binPath
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// child is a running `otpgate serve` process.
type child struct {
	cmd    *exec.Cmd
	url    string
	stdout strings.Builder
	mu     sync.Mutex
}

// startChild runs `otpgate serve` on dataDir and waits until it answers /healthz.
func startChild(tb testing.TB, dataDir, addr string) *child {
	tb.Helper()
	c := &child{url: "http://" + addr}
	c.cmd = exec.Command(mustBuild(tb), "serve", "--abuse-guard=off", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	return startCmd(tb, c)
}

// startCmd starts c.cmd and waits until it answers /healthz.
func startCmd(tb testing.TB, c *child) *child {
	tb.Helper()
	pipe, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			c.mu.Lock()
			c.stdout.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(c.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return c
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("otpgate serve did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// server waits for the account the child printed on its first start.
func (c *child) server(tb testing.TB) *testServer {
	tb.Helper()
	var sm []string
	for deadline := time.Now().Add(5 * time.Second); sm == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out := c.output()
		// Its stdout is a pipe, not a terminal: the token is in a file.
		if f := tokenFileRE.FindStringSubmatch(out); f != nil {
			b, err := os.ReadFile(f[1])
			if err != nil {
				tb.Fatalf("the first-start token file: %v", err)
			}
			out = string(b)
		}
		sm = firstAccountRE.FindStringSubmatch(out)
	}
	if sm == nil {
		tb.Fatalf("no account printed: %q", c.output())
	}
	return &testServer{URL: c.url, SID: sm[1], Token: sm[2]}
}

var tokenFileRE = regexp.MustCompile(`Auth token:\s+in (\S+) \(mode 0600\)`)

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout.String()
}

// An acknowledged send survives kill -9: after a restart its SMS goes out
// and its code verifies.
func TestKill9AfterAcknowledgedSends(t *testing.T) {
	dataDir := t.TempDir()
	addr := freeAddr(t)
	c := startChild(t, dataDir, addr)
	s := c.server(t)

	// A burst of sends; kill -9 the moment the last 201 arrives, so many
	// are still in the outbox.
	const n = 200
	acked := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := fmt.Sprintf("+96279%07d", 1000000+i)
			if r := s.send(t, "crash", to); r.Status == 201 {
				acked[i] = to
			} else {
				t.Errorf("send %d: %d %s", i, r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()

	startChild(t, dataDir, addr)
	for _, to := range acked {
		if to == "" {
			continue
		}
		codes := s.codes(t, to, 1)
		if len(codes) != 1 {
			t.Fatalf("%s: %d messages in the sandbox after restart, want exactly 1", to, len(codes))
		}
		if r := s.check(t, "crash", to, codes[0]); r.Status != 200 || r.str("status") != "approved" {
			t.Fatalf("%s: code after restart: %d %s", to, r.Status, r.Raw)
		}
	}
}

// SIGTERM lets requests in flight finish, then the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	dataDir := t.TempDir()
	addr := freeAddr(t)
	c := startChild(t, dataDir, addr)
	s := c.server(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]int{}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body, _ := json.Marshal(map[string]string{"service": "term", "from": "MyApp", "to": fmt.Sprintf("+96279%07d", w*100000+i)})
				req, _ := http.NewRequest("POST", s.URL+"/2fa/send", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.SetBasicAuth(s.SID, s.Token)
				res, err := http.DefaultClient.Do(req)
				mu.Lock()
				if err != nil {
					results["refused"]++ // after the listener closed
				} else {
					results[res.Status]++
					res.Body.Close()
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("otpgate did not exit within 20 s of SIGTERM")
	}
	cancel()
	wg.Wait()
	for status, n := range results {
		if status != "201 Created" && status != "refused" {
			t.Errorf("%d replies %q during shutdown; want only 201s and refused connections", n, status)
		}
	}
	if results["201 Created"] == 0 {
		t.Fatalf("no send succeeded before SIGTERM: %v", results)
	}
}

// Run by a service manager (stdout not a terminal), the first start writes
// the new account's token to a 0600 file in the data directory and prints
// only where it is: journald keeps no token.
func TestFirstStartTokenInAFile(t *testing.T) {
	dataDir := t.TempDir()
	c := startChild(t, dataDir, freeAddr(t))
	s := c.server(t)
	out := c.output()
	if strings.Contains(out, s.Token) || !strings.Contains(out, s.SID) {
		t.Fatalf("stdout shows the token, or not the SID:\n%s", out)
	}
	st, err := os.Stat(filepath.Join(dataDir, "first-account.txt"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the token file: %v %v", st, err)
	}
	if r := call(t, "GET", s.URL+"/sandbox/messages?to=0790000000", s.SID, s.Token, "", ""); r.Status != 200 {
		t.Fatalf("the token from the file: %d %s", r.Status, r.Raw)
	}
}

// SIGTERM under load with messages still queued (their SMSC is down): the
// requests in flight finish, the process exits 0, and every message it
// acknowledged is handed back to the outbox: started again with an SMSC
// that answers, it sends them all, none twice.
func TestSIGTERMHandsQueuedMessagesBack(t *testing.T) {
	dataDir := t.TempDir()
	addr := freeAddr(t)
	start := func(smsc string) *child {
		c := &child{url: "http://" + addr}
		c.cmd = exec.Command(mustBuild(t), "serve", "--abuse-guard=off", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn",
			"--smpp", "smpp://otpgate:secret@"+smsc+"?name=zain", "--max-backlog", "0")
		return startCmd(t, c)
	}
	c := start(freeAddr(t)) // nothing listens there: every message waits in the outbox
	s := c.server(t)
	var acked []string
	for i := range 60 {
		r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {fmt.Sprintf("+96279%07d", 6000000+i)}, "From": {"MyApp"}, "Body": {"queued " + strconv.Itoa(i)}})
		if r.Status != 201 {
			t.Fatalf("send %d: %d %s", i, r.Status, r.Raw)
		}
		acked = append(acked, r.str("sid"))
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("otpgate did not exit within 20 s of SIGTERM")
	}

	peer := smpptest.Start(t, smpptest.Options{})
	start(peer.Addr)
	subs := peer.WaitSubmits(t, len(acked), 30*time.Second)
	seen := map[string]int{}
	for _, sub := range subs {
		seen[sub.Dest]++
	}
	for i := range acked {
		if to := fmt.Sprintf("96279%07d", 6000000+i); seen[to] != 1 && seen["+"+to] != 1 {
			t.Errorf("message %d (to %s) reached the SMSC %d times after the restart, want 1", i, to, seen[to]+seen["+"+to])
		}
	}
}

// With stdout on /dev/null (a unit's StandardOutput=null), a character
// device but no terminal, the first token still goes to its file: it was
// printed into /dev/null and lost.
func TestFirstStartTokenWithStdoutOnDevNull(t *testing.T) {
	dataDir, addr := t.TempDir(), freeAddr(t)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd := exec.Command(mustBuild(t), "serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	cmd.Stdout = devnull
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	file := filepath.Join(dataDir, "first-account.txt")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(file); err == nil && strings.Contains(string(b), "AC") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no first-account.txt with stdout on /dev/null: the token went to /dev/null")
		}
	}
}
