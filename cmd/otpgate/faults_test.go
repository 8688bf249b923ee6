package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/smpptest"
	"github.com/otpgate/otpgate/internal/smscsim"
)

// node is an `otpgate serve` child process that a test kills and restarts.
type node struct {
	args []string
	addr string
	mu   sync.Mutex
	c    *child
}

func (n *node) start(tb testing.TB) {
	tb.Helper()
	c := &child{url: "http://" + n.addr}
	c.cmd = exec.Command(mustBuild(tb), n.args...)
	startCmd(tb, c)
	n.mu.Lock()
	n.c = c
	n.mu.Unlock()
}

func (n *node) kill() {
	n.mu.Lock()
	c := n.c
	n.mu.Unlock()
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

var smsCodeRE = regexp.MustCompile(`\d{6}`)

// testKillUnderLoad sends and checks through the nodes while it kills -9 a
// node at random moments and restarts it. Afterwards every send that got a
// 201 reached the SMSC, every check that approved stays approved, and no
// verification is in an impossible state.
func testKillUnderLoad(t *testing.T, nodes int, db string) {
	peer := smpptest.Start(t, smpptest.Options{})
	peer.AutoReceipt(t, "DELIVRD", 20*time.Millisecond)
	secret := filepath.Join(t.TempDir(), "secret")
	var sb [32]byte
	rand.Read(sb[:])
	os.WriteFile(secret, []byte(hex.EncodeToString(sb[:])+"\n"), 0o600)
	var ns []*node
	var sqliteDir string
	for i := range nodes {
		dir := t.TempDir()
		if i == 0 {
			sqliteDir = dir
		}
		n := &node{addr: freeAddr(t)}
		n.args = []string{"serve", "--abuse-guard=off", "--addr", n.addr, "--data-dir", dir, "--secret-file", secret, "--log-level", "warn",
			"--smpp", "smpp://otpgate:secret@" + peer.Addr + "?name=zain", "--outbox-lease", "5s"}
		if db != "" {
			n.args = append(n.args, "--db", db)
		}
		n.start(t)
		ns = append(ns, n)
	}
	acct := ns[0].c.server(t)
	peer.WaitBinds(t, nodes, 10*time.Second)

	var (
		mu        sync.Mutex
		acked     = map[string]bool{} // number -> a 201 came
		checked   = map[string]bool{}
		approved  = map[string]string{} // number -> verification SID of a 200 approved
		failures  atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		seq       atomic.Int64
		pick      = func() *node { return ns[randInt(len(ns))] }
		clientFor = &http.Client{Timeout: 5 * time.Second}
	)
	post := func(n *node, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", n.addrURL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(acct.SID, acct.Token)
		res, err := clientFor.Do(req)
		if err != nil {
			return 0, nil // the node is down
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var m map[string]any
		decodeInto(raw, &m)
		return res.StatusCode, m
	}
	for range 8 { // senders
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				to := fmt.Sprintf("+96279%07d", 2000000+seq.Add(1))
				status, body := post(pick(), "/2fa/send", `{"service":"crash","from":"MyApp","to":"`+to+`"}`)
				switch {
				case status == 201:
					mu.Lock()
					acked[to] = true
					mu.Unlock()
				case status != 0 && status != 503:
					failures.Add(1)
					t.Errorf("send: %d %v", status, body)
				}
			}
		})
	}
	wg.Go(func() { // checker: the codes that reached the SMSC, through any node
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, sub := range peer.Submits() {
				to := "+" + sub.Dest
				mu.Lock()
				done := checked[to] || !acked[to]
				checked[to] = true
				mu.Unlock()
				if done {
					continue
				}
				code := smsCodeRE.FindString(string(sub.ShortMessage))
				status, body := post(pick(), "/2fa/verify", `{"service":"crash","number":"`+to+`","code":"`+code+`"}`)
				if status == 200 && body["status"] == "approved" {
					mu.Lock()
					approved[to] = body["sid"].(string)
					mu.Unlock()
				}
			}
		}
	})
	for range 4 { // kill -9 a node at a random moment, then start it again
		time.Sleep(time.Duration(700+randInt(800)) * time.Millisecond)
		n := pick()
		n.kill()
		time.Sleep(time.Duration(100+randInt(300)) * time.Millisecond)
		n.start(t)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Every acknowledged send reaches the SMSC.
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	var missing []string
	var dups, total int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		seen := map[string]int{}
		total = 0
		for _, s := range peer.Submits() {
			seen["+"+s.Dest]++
			total++
		}
		missing, dups = nil, 0
		for to := range acked {
			if seen[to] == 0 {
				missing = append(missing, to)
			} else if seen[to] > 1 {
				dups += seen[to] - 1
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d sends acknowledged, %d submit_sm at the SMSC, %d duplicates (sent again after a kill), %d approvals, %d unexpected errors",
		want, total, dups, len(approved), failures.Load())
	if want < 50 {
		t.Errorf("only %d sends were acknowledged: the load did not run", want)
	}
	if len(missing) > 0 {
		t.Errorf("%d acknowledged sends never reached the SMSC, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}

	// Approvals stay approved; no verification is in an impossible state.
	var q func(query string, args ...any) (int, error)
	if db != "" {
		conn, err := pgx.Connect(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		q = func(query string, args ...any) (n int, err error) {
			err = conn.QueryRow(context.Background(), strings.ReplaceAll(query, "?", "$1"), args...).Scan(&n)
			return n, err
		}
	} else {
		sdb, err := sql.Open("sqlite", "file:"+filepath.Join(sqliteDir, "otpgate.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		q = func(query string, args ...any) (n int, err error) {
			err = sdb.QueryRow(query, args...).Scan(&n)
			return n, err
		}
	}
	for to, sid := range approved {
		if n, err := q(`SELECT count(*) FROM verifications WHERE sid = ? AND status = 'approved'`, sid); err != nil || n != 1 {
			t.Errorf("%s: verification %s approved with a 200 is not approved now (%v)", to, sid, err)
		}
	}
	impossible := `SELECT count(*) FROM verifications WHERE send_attempts < 1 OR send_attempts > 5 OR check_attempts < 0 OR check_attempts > 5
		OR status NOT IN ('pending', 'approved', 'max_attempts_reached', 'expired', 'canceled')
		OR (status = 'max_attempts_reached' AND check_attempts < 5) OR (status = 'approved' AND check_attempts < 1)`
	if n, err := q(impossible); err != nil || n != 0 {
		t.Errorf("%d verifications in an impossible state (%v)", n, err)
	}
	if n, err := q(`SELECT count(*) FROM (SELECT account_sid, service_sid, to_number FROM verifications WHERE status IN ('pending', 'max_attempts_reached')
		GROUP BY account_sid, service_sid, to_number HAVING count(*) > 1) AS x`); err != nil || n != 0 {
		t.Errorf("%d numbers with two pending verifications (%v)", n, err)
	}
}

func (n *node) addrURL() string { return "http://" + n.addr }

func decodeInto(raw []byte, v any) {
	_ = json.Unmarshal(raw, v)
}

func TestKillNodesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	t.Run("sqlite-1-node", func(t *testing.T) { testKillUnderLoad(t, 1, "") })
	t.Run("postgres-3-nodes", func(t *testing.T) { testKillUnderLoad(t, 3, pgSchemaURL(t)) })
}

// pausableProxy forwards TCP to a target; Pause drops every connection and
// refuses new ones (the database is down) until Resume.
type pausableProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	paused bool
	conns  map[net.Conn]bool
}

func newProxy(tb testing.TB, target string) *pausableProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &pausableProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	tb.Cleanup(func() { ln.Close(); p.Pause() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.paused {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close(); c.Close() }()
			go func() { io.Copy(c, up); up.Close(); c.Close() }()
		}
	}()
	return p
}

func (p *pausableProxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *pausableProxy) Resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
}

// The database restarting under load (8 clients sending at once): every
// connection of the node is terminated by the server, as a restart does
// (FATAL 57P01), and new ones are refused for 3 s. Meanwhile requests fail
// cleanly (503 with the standard error JSON and Retry-After, /readyz 503,
// /healthz 200); once it is back they succeed, and every send acknowledged
// before, during or after was delivered, once.
func TestDatabaseOutageUnderLoad(t *testing.T) {
	direct := pgSchemaURL(t)
	pu, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	app := "otpgate-outage-" + hex.EncodeToString(b[:])
	q := pu.Query()
	q.Set("application_name", app)
	pu.RawQuery = q.Encode()
	proxy := newProxy(t, pu.Host)
	pu.Host = proxy.ln.Addr().String()
	db := pu.String()
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.DB = db
		c.DBStatementTimeout = 2 * time.Second
		c.NoAbuseGuard = true // a load test
	})
	var (
		mu       sync.Mutex
		acked    []string
		phase    atomic.Int32 // 0 before, 1 down, 2 back
		statuses [3]map[int]int
		next     atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for i := range statuses {
		statuses[i] = map[int]int{}
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				to := fmt.Sprintf("+96279%07d", 3000000+next.Add(1))
				ph := phase.Load()
				r := call(t, "POST", s.URL+"/2fa/send", s.SID, s.Token, "application/json", `{"service":"outage","from":"MyApp","to":"`+to+`"}`)
				mu.Lock()
				statuses[ph][r.Status]++
				if r.Status == 201 {
					acked = append(acked, to)
				}
				mu.Unlock()
				switch r.Status {
				case 201:
				case 503:
					if r.num("code") != 20503 || r.str("message") == "" || r.Header.Get("Retry-After") == "" {
						t.Errorf("503 without the standard error: %s", r.Raw)
					}
					time.Sleep(20 * time.Millisecond)
				default:
					t.Errorf("send around the restart: %d %s", r.Status, r.Raw)
				}
			}
		}()
	}
	time.Sleep(time.Second)

	// The restart: the server ends this node's sessions, then refuses
	// connections while it is down.
	admin, err := pgx.Connect(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	phase.Store(1)
	var killed int
	if err := admin.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	proxy.Pause()
	t.Logf("terminated %d sessions of the node", killed)
	if killed == 0 {
		t.Error("the node had no session to terminate")
	}
	time.Sleep(1500 * time.Millisecond)
	if r := call(t, "GET", s.URL+"/readyz", "", "", "", ""); r.Status != 503 {
		t.Errorf("/readyz while the database is down: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "GET", s.URL+"/healthz", "", "", "", ""); r.Status != 200 {
		t.Errorf("/healthz while the database is down: %d %s", r.Status, r.Raw)
	}
	time.Sleep(1500 * time.Millisecond)
	proxy.Resume()
	phase.Store(2)
	back := time.Now()
	for {
		mu.Lock()
		n := statuses[2][201]
		mu.Unlock()
		if n >= 100 {
			break
		}
		if time.Since(back) > 20*time.Second {
			t.Fatalf("%d sends acknowledged in 20 s after the database came back", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for i, name := range []string{"before", "while down", "after"} {
		t.Logf("%s: %v", name, statuses[i])
	}
	if statuses[0][201] == 0 || statuses[1][503] == 0 {
		t.Errorf("want 201s before and 503s while down: %v", statuses)
	}
	if r := call(t, "GET", s.URL+"/readyz", "", "", "", ""); r.Status != 200 {
		t.Errorf("/readyz once the database is back: %d %s", r.Status, r.Raw)
	}
	for _, to := range acked {
		if codes := s.codes(t, to, 1); len(codes) != 1 {
			t.Errorf("%s: %d messages delivered, want 1", to, len(codes))
		}
	}
}

// While the SMSC is down, messages wait (up to the backlog bound) and go
// out when it returns; on several nodes.
func TestSMSCDownThenBack(t *testing.T) {
	addr := freeAddr(t)
	sim := smscsim.New(smscsim.Config{})
	if _, err := sim.Start(addr); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 2, func(i int, cfg *ServeConfig) {
		cfg.SMPP = []string{"smpp://otpgate:secret@" + addr + "?name=sim"}
		cfg.NoAbuseGuard = true // hundreds of codes to one prefix, never checked
	})
	for _, n := range c.nodes {
		n.waitBound(t)
	}
	sim.Close()
	var acked []string
	for i := range 40 {
		to := fmt.Sprintf("+96279%07d", 4000000+i)
		r := c.nodes[i%2].send(t, "down", to)
		if r.Status == 201 {
			acked = append(acked, to)
		} else if r.Status != 429 {
			t.Fatalf("send while the SMSC is down: %d %s", r.Status, r.Raw)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	sim2 := smscsim.New(smscsim.Config{})
	if _, err := sim2.Start(addr); err != nil {
		t.Fatal(err)
	}
	defer sim2.Close()
	deadline := time.Now().Add(20 * time.Second)
	for sim2.Count() < int64(len(acked)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	seen := map[string]bool{}
	for _, s := range sim2.Submits() {
		seen["+"+s.Dest] = true
	}
	for _, to := range acked {
		if !seen[to] {
			t.Errorf("%s was accepted while the SMSC was down and never sent after it returned", to)
		}
	}
	if len(acked) != 40 {
		t.Errorf("%d of 40 accepted while the SMSC was down (the rest 429)", len(acked))
	}
}

// A node that dies holding messages it was sending, and does not come back,
// leaves them to the other nodes once its lease runs out.
func TestDeadNodesClaimsAreTakenOver(t *testing.T) {
	db := pgSchemaURL(t)
	// Node 1's SMSC takes 5 submit_sm a second and throttles the rest: its
	// node holds most messages, sending, when it dies. Node 2's is fast.
	slow, fast := smscsim.New(smscsim.Config{MaxTPS: 5}), smscsim.New(smscsim.Config{})
	slowAddr, err := slow.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fastAddr, err := fast.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	secret := filepath.Join(t.TempDir(), "secret")
	var sb [32]byte
	rand.Read(sb[:])
	os.WriteFile(secret, []byte(hex.EncodeToString(sb[:])+"\n"), 0o600)
	var ns []*node
	for i, smsc := range []net.Addr{slowAddr, fastAddr} {
		n := &node{addr: freeAddr(t)}
		n.args = []string{"serve", "--abuse-guard=off", "--addr", n.addr, "--data-dir", t.TempDir(), "--secret-file", secret, "--log-level", "error",
			"--smpp", fmt.Sprintf("smpp://node%d:secret@%s?name=sim", i+1, smsc), "--db", db, "--outbox-lease", "3s"}
		n.start(t)
		ns = append(ns, n)
	}
	acct := ns[0].c.server(t)
	time.Sleep(300 * time.Millisecond) // both bound
	var acked []string
	firstSend := time.Now()
	for i := range 60 {
		to := fmt.Sprintf("+96279%07d", 5000000+i)
		r := call(t, "POST", ns[0].addrURL()+"/2fa/send", acct.SID, acct.Token, "application/json", `{"service":"dead","from":"MyApp","to":"`+to+`"}`)
		if r.Status == 201 {
			acked = append(acked, to)
		}
	}
	time.Sleep(500 * time.Millisecond)
	ns[0].kill()
	killed := time.Now()
	atDeath := slow.Count()
	seen := map[string]bool{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, s := range append(slow.Submits(), fast.Submits()...) {
			seen["+"+s.Dest] = true
		}
		all := true
		for _, to := range acked {
			all = all && seen[to]
		}
		if all {
			break
		}
	}
	for _, to := range acked {
		if !seen[to] {
			t.Errorf("%s, acknowledged by the dead node, was never sent", to)
		}
	}
	took := time.Since(killed)
	t.Logf("%d acknowledged by node 1, %d sent through its SMSC before it died, %d by node 2 after its lease (all %.1fs after the kill)",
		len(acked), atDeath, fast.Count(), took.Seconds())
	if len(acked) != 60 || fast.Count() == 0 {
		t.Errorf("want 60 acknowledged and node 2 to send what node 1 held")
	}
	// No message was claimed before firstSend, so none of node 1's leases
	// ran out before firstSend + 3s.
	if earliest := firstSend.Add(3 * time.Second).Sub(killed); fast.Count() > 0 && took < earliest-200*time.Millisecond {
		t.Errorf("node 2 took node 1's messages %.1fs after it died, before its leases ran out (%.1fs)", took.Seconds(), earliest.Seconds())
	}
}
