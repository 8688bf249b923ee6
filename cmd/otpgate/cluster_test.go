package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/smpptest"
)

// pgSchemaURL returns $OTPGATE_TEST_PG pointed at a new, empty schema,
// dropped when the test ends. Without the variable the test skips, saying
// so, unless $CI is set: then it fails.
func pgSchemaURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("OTPGATE_TEST_PG")
	if base == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("OTPGATE_TEST_PG is not set, and CI is: the PostgreSQL tests must run (.ci/run sets it)")
		}
		tb.Skip("SKIPPING: set OTPGATE_TEST_PG=postgres://USER@HOST:PORT/DB to run the tests of several nodes on PostgreSQL (.ci/run does)")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "c_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), base); err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// cluster is several otpgate nodes on one PostgreSQL database, sharing a
// server secret, each with its own data directory.
type cluster struct {
	db, secret string
	nodes      []*testServer
	sid, token string
}

// operatorToken makes an operator token in the cluster's database.
func (c *cluster) operatorToken(tb testing.TB) string {
	tb.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"operator-token", "--name", "ops", "--db", c.db}, &out, &errOut); err != nil {
		tb.Fatalf("operator-token: %v %s", err, errOut.String())
	}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "Token: "); ok {
			return t
		}
	}
	tb.Fatalf("operator-token printed no token:\n%s", out.String())
	return ""
}

func newCluster(t *testing.T, n int, set func(i int, c *ServeConfig)) *cluster {
	t.Helper()
	c := &cluster{db: pgSchemaURL(t), secret: filepath.Join(t.TempDir(), "secret")}
	var s [32]byte
	rand.Read(s[:])
	if err := os.WriteFile(c.secret, []byte(hex.EncodeToString(s[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		var out bytes.Buffer
		cfg := ServeConfig{
			Addr: "127.0.0.1:0", DataDir: t.TempDir(), SecretFile: c.secret, DB: c.db, Region: "JO", CodeLength: 6,
			CodeTTL: 10 * time.Minute, LogLevel: "warn", LogFormat: "text",
		}
		if set != nil {
			set(i, &cfg)
		}
		m := &Main{Config: cfg, Stdout: &out, LogOutput: io.Discard}
		if err := m.Run(context.Background()); err != nil {
			m.Close()
			t.Fatalf("start node %d: %v", i+1, err)
		}
		t.Cleanup(func() { m.Close() })
		if i == 0 { // the first node on an empty database makes the account
			sm := firstAccountRE.FindStringSubmatch(out.String())
			if sm == nil {
				t.Fatalf("the first node printed no account:\n%s", out.String())
			}
			c.sid, c.token = sm[1], sm[2]
		} else if out.Len() > 0 {
			t.Fatalf("node %d made an account on a database that has one:\n%s", i+1, out.String())
		}
		c.nodes = append(c.nodes, &testServer{Main: m, URL: "http://" + m.Addr(), SID: c.sid, Token: c.token, stdout: &out})
	}
	return c
}

// A code sent through one node is read and verified through the others.
func TestClusterSendAndVerifyOnAnyNode(t *testing.T) {
	c := newCluster(t, 3, nil)
	if r := c.nodes[0].send(t, "login", "0791234567"); r.Status != 201 {
		t.Fatalf("send through node 1: %d %s", r.Status, r.Raw)
	}
	code := c.nodes[1].codes(t, "0791234567", 1)[0]
	r := c.nodes[2].check(t, "login", "0791234567", code)
	if r.Status != 200 || r.Body["valid"] != true {
		t.Fatalf("check through node 3: %d %s", r.Status, r.Raw)
	}
	if r := c.nodes[0].check(t, "login", "0791234567", code); r.Status != 404 {
		t.Fatalf("a second check through node 1 of the approved code: %d %s", r.Status, r.Raw)
	}
	for i, n := range c.nodes {
		if r := call(t, "GET", n.URL+"/readyz", "", "", "", ""); r.Status != 200 {
			t.Errorf("node %d /readyz: %d %s", i+1, r.Status, r.Raw)
		}
	}
}

// 100 concurrent wrong guesses spread over 3 nodes are evaluated at most 5
// times; a resend through one node and a send limit hold across nodes too.
func TestClusterLimitsHoldAcrossNodes(t *testing.T) {
	c := newCluster(t, 3, nil)
	if r := c.nodes[0].send(t, "login", "0791234568"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := c.nodes[0].codes(t, "0791234568", 1)[0]
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			r := c.nodes[i%3].check(t, "login", "0791234568", wrongCode(code))
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[200] != 5 || counts[429] != 95 {
		t.Fatalf("100 wrong guesses over 3 nodes: %v; want 5 evaluated (200) and 95 refused (429)", counts)
	}
	// Five sends of one verification, through the three nodes in turn: the sixth is refused.
	for i := range 5 {
		if r := c.nodes[i%3].send(t, "other", "0791234569"); r.Status != 201 || r.num("send_attempts") != i+1 {
			t.Fatalf("send %d: %d %s", i+1, r.Status, r.Raw)
		}
	}
	if r := c.nodes[2].send(t, "other", "0791234569"); r.Status != 429 || r.num("code") != 60203 {
		t.Fatalf("a sixth send: %d %s, want 429/60203", r.Status, r.Raw)
	}
}

// An SMSC may send a receipt on any session of the account: the node that
// gets it matches it through the database, whichever node sent the message.
func TestClusterReceiptOnAnotherNodesBind(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	c := newCluster(t, 2, func(i int, cfg *ServeConfig) {
		cfg.SMPP = []string{fmt.Sprintf("smpp://node%d:secret@%s?name=zain", i+1, peer.Addr)}
	})
	peer.WaitBinds(t, 2, 10*time.Second)
	r := c.nodes[0].send(t, "login", "0791234570")
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	sub := peer.WaitSubmits(t, 1, 10*time.Second)[0]
	if sub.SystemID != "node1" {
		t.Fatalf("the submit came on %s's bind, want node1's", sub.SystemID)
	}
	c.nodes[0].waitMessage(t, r.str("message_sid"), message.Sent)
	peer.SendReceipt(t, smpptest.ReceiptSpec{MessageID: sub.MessageID, SystemID: "node2"})
	acks := peer.WaitDeliverAcks(t, 1, 10*time.Second)
	if acks[0].CommandStatus != 0 {
		t.Fatalf("node 2 answered the receipt %#x", acks[0].CommandStatus)
	}
	m := c.nodes[0].waitMessage(t, r.str("message_sid"), message.Delivered)
	if m.Connector != "zain" {
		t.Errorf("delivered message %+v", m)
	}
}

// An embedded deployment moves to PostgreSQL with otpgate copy: its account
// and token, its pending verification (the code sent before verifies
// after), its message history and its sandbox inbox, and its abuse guard's
// state (a number's rate-limit count, a pumping block, the safe list).
func TestCopyFromSQLiteToPostgres(t *testing.T) {
	db := pgSchemaURL(t)
	perNumber := policy.Rate{Max: 2, Window: time.Hour}
	old := mustServeWith(t, nil, func(c *ServeConfig) { c.PerNumber = perNumber })
	if r := old.send(t, "login", "0791234571"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := old.codes(t, "0791234571", 1)[0]
	if r := old.send(t, "signup", "0791234571"); r.Status != 201 {
		t.Fatalf("a second code to the number: %d %s", r.Status, r.Raw)
	}
	for i := range 16 {
		old.send(t, "login", fmt.Sprintf("+96279071%04d", i)) // pumping: the 16th is refused
	}
	if r := old.postJSON(t, "/guard/safe", map[string]string{"phone_number": "+962770001234"}); r.Status != 201 {
		t.Fatalf("safe list: %d %s", r.Status, r.Raw)
	}
	sent := old.postForm(t, "/2010-04-01/Accounts/"+old.SID+"/Messages.json", url.Values{"To": {"0771234567"}, "From": {"MyApp"}, "Body": {"مرحبا"}})
	if sent.Status != 201 {
		t.Fatalf("message: %d %s", sent.Status, sent.Raw)
	}
	old.waitMessage(t, sent.str("sid"), message.Delivered)
	dataDir := old.Config.DataDir
	old.Close()

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"copy", "--from", "sqlite:" + dataDir, "--to", db}, &out, &errOut); err != nil {
		t.Fatalf("copy: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "accounts           1 rows") || !strings.Contains(out.String(), "messages           18 rows") ||
		!strings.Contains(out.String(), "guard_blocks       1 rows") || !strings.Contains(out.String(), "guard_safe         1 rows") {
		t.Errorf("copy printed:\n%s", out.String())
	}
	// A second copy into the same database is refused, and writes nothing.
	if err := run(context.Background(), []string{"copy", "--from", "sqlite:" + dataDir, "--to", db}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "holds 1 accounts") {
		t.Fatalf("a second copy: %v", err)
	}

	node := &Main{Config: ServeConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), SecretFile: filepath.Join(dataDir, "secret"), DB: db,
		Region: "JO", CodeLength: 6, CodeTTL: 10 * time.Minute, LogLevel: "warn", LogFormat: "text", PerNumber: perNumber}, LogOutput: io.Discard}
	if err := node.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	s := &testServer{Main: node, URL: "http://" + node.Addr(), SID: old.SID, Token: old.Token}
	if r := s.check(t, "login", "0791234571", code); r.Status != 200 || r.Body["valid"] != true {
		t.Fatalf("the code sent before the move, checked after: %d %s", r.Status, r.Raw)
	}
	got := call(t, "GET", s.URL+"/2010-04-01/Accounts/"+s.SID+"/Messages/"+sent.str("sid")+".json", s.SID, s.Token, "", "")
	if got.Status != 200 || got.str("body") != "مرحبا" || got.str("status") != "delivered" {
		t.Fatalf("the message after the move: %d %s", got.Status, got.Raw)
	}
	if codes := s.codes(t, "0791234571", 2); codes[1] != code {
		t.Errorf("sandbox inbox after the move: %v, want %s last", codes, code)
	}
	if r := s.send(t, "other", "0791234571"); r.Status != 429 || r.num("code") != 60203 {
		t.Errorf("a third code to the number after the move, under a limit of 2: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", "+962790710099"); r.Status != 403 || r.num("code") != 60410 {
		t.Errorf("a code to the blocked prefix after the move: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "GET", s.URL+"/guard/safe", s.SID, s.Token, "", ""); !strings.Contains(r.Raw, "+962770001234") {
		t.Errorf("the safe list after the move: %s", r.Raw)
	}
}

// Three nodes started at the same moment on an empty database make one
// first account between them, and one of them prints it.
func TestClusterFirstStartMakesOneAccount(t *testing.T) {
	db := pgSchemaURL(t)
	secret := filepath.Join(t.TempDir(), "secret")
	var s [32]byte
	rand.Read(s[:])
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(s[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const nodes = 6
	outs := make([]bytes.Buffer, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		cfg := ServeConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), SecretFile: secret, DB: db, Region: "JO", CodeLength: 6,
			CodeTTL: 10 * time.Minute, LogLevel: "warn", LogFormat: "text"}
		m := &Main{Config: cfg, Stdout: &outs[i], LogOutput: io.Discard}
		t.Cleanup(func() { m.Close() })
		wg.Go(func() { errs[i] = m.Run(context.Background()) })
	}
	wg.Wait()
	printed := 0
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i+1, errs[i])
		}
		if firstAccountRE.MatchString(outs[i].String()) {
			printed++
		}
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var accounts int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM accounts`).Scan(&accounts); err != nil {
		t.Fatal(err)
	}
	if accounts != 1 || printed != 1 {
		t.Fatalf("%d nodes at once made %d accounts, and %d printed one; want 1 and 1", nodes, accounts, printed)
	}
}
