package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/syncbuf"
)

// simCLI is `otpgate smsc-sim` run in-process, as a developer runs it.
type simCLI struct {
	SMPP, HTTP string // addresses it listens on
	out        *syncbuf.Buffer
}

var (
	simListenRE = regexp.MustCompile(`smsc-sim listening on (\S+)`)
	simHTTPRE   = regexp.MustCompile(`smsc-sim: messages at http://(\S+)/messages\?to=NUMBER`)
)

// mustRunSim runs otpgate smsc-sim with args (on loopback port 0) until the
// test ends.
func mustRunSim(tb testing.TB, args ...string) *simCLI {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &simCLI{out: &syncbuf.Buffer{}}
	done := make(chan error, 1)
	go func() {
		done <- runSMSCSim(ctx, append([]string{"--addr", "127.0.0.1:0", "--http", "127.0.0.1:0"}, args...), s.out, io.Discard)
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("smsc-sim: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := s.out.String()
		if m := simListenRE.FindStringSubmatch(out); m != nil {
			s.SMPP = m[1]
			if h := simHTTPRE.FindStringSubmatch(out); h != nil {
				s.HTTP = h[1]
			}
			return s
		}
		select {
		case err := <-done:
			tb.Fatalf("smsc-sim ended: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("smsc-sim did not start:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type simEntry struct {
	SID        string   `json:"sid"`
	To         string   `json:"to"`
	From       string   `json:"from"`
	Body       string   `json:"body"`
	Segments   int      `json:"segments"`
	Encoding   string   `json:"encoding"`
	CreatedAt  string   `json:"created_at"`
	MessageIDs []string `json:"message_ids"`
	SystemID   string   `json:"system_id"`
	DataCoding int      `json:"data_coding"`
}

// messages waits until the simulator's GET /messages?to=NUMBER lists at
// least want messages, and returns them.
func (s *simCLI) messages(tb testing.TB, to string, want int) []simEntry {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + s.HTTP + "/messages?to=" + url.QueryEscape(to))
		if err != nil {
			tb.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var l struct {
			Messages []simEntry `json:"messages"`
		}
		if res.StatusCode != 200 || json.Unmarshal(raw, &l) != nil {
			tb.Fatalf("GET /messages: %d %s", res.StatusCode, raw)
		}
		if len(l.Messages) >= want {
			return l.Messages
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the simulator has %d messages to %s, want %d\n%s", len(l.Messages), to, want, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveLogged starts otpgate with set, keeping its stdout (the first
// start) and its log at info.
func serveLogged(tb testing.TB, set func(*ServeConfig)) (*testServer, *syncbuf.Buffer) {
	tb.Helper()
	log := &syncbuf.Buffer{}
	s := mustServeLogging(tb, nil, log, func(c *ServeConfig) {
		c.LogLevel, c.NoAbuseGuard = "info", true
		set(c)
	})
	return s, log
}

// With --smpp to otpgate smsc-sim, a developer reads the code where the
// first start says: the simulator's output and its GET /messages; it
// verifies.
func TestReadCodeFromSimulator(t *testing.T) {
	sim := mustRunSim(t)
	s, log := serveLogged(t, func(c *ServeConfig) { c.SMPP = []string{"smpp://otpgate:secret@" + sim.SMPP + "?name=sim"} })

	first := s.stdout.String()
	for _, want := range []string{
		"Send a code (delivered over SMPP by connector sim; a real SMSC delivers it to the phone):",
		"there is no sandbox inbox with SMPP",
		"curl 'http://127.0.0.1:2776/messages?to=962790320012'",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the first start does not say %q:\n%s", want, first)
		}
	}
	if strings.Contains(first, "/sandbox/") {
		t.Errorf("the first start of an SMPP server shows the sandbox:\n%s", first)
	}
	if l := log.String(); !strings.Contains(l, "delivery: SMPP") || !strings.Contains(l, "connectors=sim") ||
		!strings.Contains(l, `smsc_sim_messages="http://127.0.0.1:2776/messages?to=NUMBER"`) || strings.Contains(l, "/sandbox/") {
		t.Errorf("the log does not describe SMPP delivery:\n%s", l)
	}

	// The first start's curl, as printed.
	r := call(t, "POST", s.URL+"/2fa/send", s.SID, s.Token, "application/json",
		`{ "service" : "Restcomm", "from" : "MyApp", "to" : "962790320012", "body": "Your verification code is: {code}" }`)
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	// Read in the spelling a user types.
	msgs := sim.messages(t, "079 032 0012", 1)
	m := msgs[0]
	code := codeRE.FindString(m.Body)
	if m.To != "+962790320012" || m.From != "MyApp" || m.Body != "Your verification code is: "+code || len(code) != 6 ||
		m.Segments != 1 || m.Encoding != "GSM-7" || m.SystemID != "otpgate" || len(m.MessageIDs) != 1 || m.SID != m.MessageIDs[0] {
		t.Fatalf("the simulator's message: %+v", m)
	}
	lineRE := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \+962790320012  from MyApp  "Your verification code is: ` + code + `"$`)
	if !lineRE.MatchString(sim.out.String()) {
		t.Errorf("the simulator printed no line with the code:\n%s", sim.out.String())
	}
	if v := s.check(t, "Restcomm", "962790320012", code); v.Status != 200 || v.str("status") != "approved" {
		t.Fatalf("verify: %d %s", v.Status, v.Raw)
	}
}

// A long Arabic message reaches the simulator in parts (UDH or SAR) or in
// one message_payload, and is read there joined, once.
func TestSimulatorJoinsArabic(t *testing.T) {
	arabic := "مرحبا، رمز التحقق الخاص بك هو ٤٨٢٩١٣. لا تشارك هذا الرمز مع أي شخص، ولا حتى مع موظفي خدمة العملاء. " +
		"ينتهي الرمز بعد عشر دقائق. إذا لم تطلب هذا الرمز فتجاهل هذه الرسالة، وشكرا لكم 👍"
	for _, tt := range []struct {
		split    string
		segments int
	}{{"udh", 3}, {"sar", 3}, {"payload", 1}} {
		t.Run(tt.split, func(t *testing.T) {
			sim := mustRunSim(t)
			s := mustServeSMPP(t, "smpp://otpgate:secret@"+sim.SMPP+"?name=sim&split="+tt.split)
			r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{
				"To": {"0790320012"}, "From": {"MyApp"}, "Body": {arabic}})
			if r.Status != 201 {
				t.Fatalf("send: %d %s", r.Status, r.Raw)
			}
			msgs := sim.messages(t, "+962790320012", 1)
			m := msgs[0]
			if len(msgs) != 1 || m.Body != arabic || m.Encoding != "UCS-2" || m.DataCoding != 8 ||
				m.Segments != tt.segments || len(m.MessageIDs) != tt.segments {
				t.Fatalf("the simulator has %d messages, the first %+v\nwant %q in %d parts", len(msgs), m, arabic, tt.segments)
			}
			if n := strings.Count(sim.out.String(), "  +962790320012  from MyApp  UCS-2"); n != 1 {
				t.Errorf("printed %d lines for the message, want 1:\n%s", n, sim.out.String())
			}
		})
	}
}

// The sandbox's first start and log show the sandbox inbox, as before.
func TestFirstStartSandbox(t *testing.T) {
	s, log := serveLogged(t, func(*ServeConfig) {})
	first := s.stdout.String()
	want := "Send a code (delivered to the sandbox inbox):"
	// Printed before the listener exists: port 0 as configured.
	read := "Read it:\n  curl http://" + s.Config.Addr + "/sandbox/messages?to=962790320012 --user '" + s.SID + ":" + s.Token + "'\n"
	if !strings.Contains(first, want) || !strings.Contains(first, read) || strings.Contains(first, "smsc-sim") {
		t.Errorf("first start:\n%s", first)
	}
	if l := log.String(); !strings.Contains(l, "delivery: sandbox") || !strings.Contains(l, "GET /sandbox/messages?to=NUMBER") {
		t.Errorf("log:\n%s", l)
	}
	if r := call(t, "GET", s.URL+"/sandbox/messages?to=962790320012", s.SID, s.Token, "", ""); r.Status != 200 {
		t.Errorf("the sandbox curl: %d %s", r.Status, r.Raw)
	}
}

// Several connectors are named; a configuration that cannot start creates
// no account, so the next good start still prints one.
func TestFirstStartSMPPConnectors(t *testing.T) {
	dir := t.TempDir()
	bad := &Main{Config: ServeConfig{Addr: "127.0.0.1:0", DataDir: dir, Region: "JO", CodeLength: 6, CodeTTL: 10 * time.Minute,
		LogLevel: "warn", LogFormat: "text", SMPP: []string{"smpp://otpgate:secret@127.0.0.1:1?name=a&window=0x"}}}
	var out bytes.Buffer
	bad.Stdout = &out
	err := bad.Run(context.Background())
	bad.Close()
	if err == nil || !strings.Contains(err.Error(), "window") || out.Len() != 0 {
		t.Fatalf("a bad --smpp: err %v, printed %q", err, out.String())
	}
	sim1, sim2 := mustRunSim(t, "--http", ""), mustRunSim(t, "--http", "")
	s, _ := serveLogged(t, func(c *ServeConfig) {
		c.DataDir = dir
		c.SMPP = []string{"smpp://otpgate:secret@" + sim1.SMPP + "?name=zain", "smpp://otpgate:secret@" + sim2.SMPP + "?name=orange"}
	})
	if want := "Send a code (delivered over SMPP by connector zain or orange, as its number's route says; a real SMSC delivers it to the phone):"; !strings.Contains(s.stdout.String(), want) {
		t.Errorf("first start:\n%s\nwant %q", s.stdout.String(), want)
	}
}

func TestSimulatorFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"--http beyond loopback", []string{"--addr", "127.0.0.1:0", "--http", "0.0.0.0:0"}, "--http 0.0.0.0:0: the messages (and the codes in them) are served without authentication"},
		{"--keep 0", []string{"--addr", "127.0.0.1:0", "--keep", "0"}, "--keep 0"},
		{"--region", []string{"--addr", "127.0.0.1:0", "--region", "XX"}, "--region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runSMSCSim(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	// --http-public allows it; --http "" turns it off, the lines stay.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := runSMSCSim(ctx, []string{"--addr", "127.0.0.1:0", "--http", "0.0.0.0:0", "--http-public"}, &out, io.Discard); err != nil {
		t.Fatalf("--http-public: %v", err)
	}
	if !strings.Contains(out.String(), "smsc-sim: messages at http://") {
		t.Errorf("--http-public:\n%s", out.String())
	}
	sim := mustRunSim(t, "--http", "")
	if sim.HTTP != "" || strings.Contains(sim.out.String(), "messages at") {
		t.Fatalf(`--http "": %s`, sim.out.String())
	}
}
