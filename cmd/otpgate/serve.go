package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/term"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/keyring"
	"github.com/otpgate/otpgate/internal/mail"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

// ServeConfig is everything `otpgate serve` is configured with.
type ServeConfig struct {
	Addr    string
	DataDir string
	DB      string // "" for the embedded SQLite database in DataDir

	DBMaxConns         int
	DBStatementTimeout time.Duration
	SecretFile         string
	Region             string
	CodeLength         int
	CodeTTL            time.Duration
	ResendCooldown     time.Duration
	LogLevel           string
	LogFormat          string
	DebugAddr          string
	DebugAddrPublic    bool // allow a --debug-addr that is not loopback
	// MetricsAddr, if set, serves GET /metrics (Prometheus) there, without
	// auth; MetricsToken, if set, serves it on the main listener to
	// requests with "Authorization: Bearer TOKEN". Neither: not served.
	MetricsAddr, MetricsToken string
	// TLSCert and TLSKey, when set, serve HTTPS (HTTP/2 and HTTP/1.1) with
	// that certificate, read again on SIGHUP (Main.ReloadTLS).
	TLSCert, TLSKey string
	// SandboxKeep is how long the sandbox inbox keeps a message (0: 24 h).
	SandboxKeep time.Duration
	SMPP        []string // smpp:// URLs, in order of preference
	ConfigFile  string
	// SMTP, if set, is the relay emails go through (an smtp:// or smtps://
	// URL); SMTPFrom is their sender. Without SMTP, emails go to the
	// sandbox inbox when delivery is the sandbox, else are refused.
	SMTP, SMTPFrom string

	WebhookAllowPrivate bool
	CallbackRetry       time.Duration
	MaxBacklog          time.Duration
	OutboxLease         time.Duration

	// Limits are the server's rate limits of sends (zero: none);
	// PerNumber and DailyBudget are the defaults of each account's own
	// (its policy may set others). NoAbuseGuard turns them all, the resend
	// cooldown and the pumping guard off (--abuse-guard=off, for load
	// tests).
	Limits       guard.LimitsConfig
	PerNumber    policy.Rate
	DailyBudget  int // SMS of one account in a day (guard.Budget); 0: none
	NoAbuseGuard bool
	// AuditKeep is how long the audit log keeps an entry (at least 90
	// days; 0: 90 days).
	AuditKeep time.Duration
	// VerifySender is the sender of Verify v2 codes where the route has no
	// default_sender ("" for "Verify").
	VerifySender string
	// Pumping tunes the SMS-pumping guard (zero fields: its defaults).
	Pumping guard.PumpingConfig
	// Console serves the web console at /console (--console).
	Console bool
}

// rateFlag is a policy.Rate as a flag ("10/1h", "off").
type rateFlag struct{ r *policy.Rate }

func (f rateFlag) String() string {
	if f.r == nil {
		return ""
	}
	return f.r.String()
}

func (f rateFlag) Set(s string) error {
	r, err := policy.ParseRate(s)
	if err != nil {
		return err
	}
	*f.r = r
	return nil
}

func (c *ServeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&c.DataDir, "data-dir", "./otpgate-data", "directory for the database and the server secret (created if missing)")
	fs.StringVar(&c.DB, "db", "", dbHelp)
	fs.IntVar(&c.DBMaxConns, "db-max-conns", 16, "PostgreSQL: connections in this node's pool")
	fs.DurationVar(&c.DBStatementTimeout, "db-statement-timeout", 10*time.Second, "PostgreSQL: the longest one statement may run")
	fs.StringVar(&c.SecretFile, "secret-file", "", "file holding the server secret (64 hex characters); default: DATA_DIR/secret, created on first start")
	fs.StringVar(&c.Region, "region", "JO", "region for numbers written without a country code (ISO 3166 code)")
	fs.IntVar(&c.CodeLength, "code-length", verification.DefaultCodeLength, "digits in a code, 4-10, for services created from now on")
	fs.DurationVar(&c.CodeTTL, "code-ttl", verification.DefaultTTL, "how long a code stays valid, 1m-24h, for services created from now on")
	fs.DurationVar(&c.ResendCooldown, "resend-cooldown", 30*time.Second, "the least time between two codes of one verification (429, code 60203, Retry-After); 0: none")
	c.Limits, c.PerNumber, c.DailyBudget = guard.DefaultLimits, guard.DefaultPerNumber, policy.DefaultDailyBudget
	fs.Var(rateFlag{&c.PerNumber}, "limit-per-number", "SMS (codes and messages) to one number across an account's services, as N/DURATION or off (429, code 60203); the default of each account's per_number ceiling")
	fs.Func("daily-budget", "SMS one account may send in a day, or off (429, code 20429); the default of each account's daily_budget ceiling (default 10000)", func(v string) error {
		p, err := policy.Policy{}.With("daily_budget", v)
		if err != nil || p.DailyBudget == nil {
			return fmt.Errorf("%q: want 1 to %d, or off", v, policy.MaxDailyBudget)
		}
		c.DailyBudget = *p.DailyBudget
		return nil
	})
	fs.DurationVar(&c.AuditKeep, "audit-keep", 90*24*time.Hour, "how long the audit log (GET /operator/audit) keeps an entry; at least 2160h (90 days)")
	fs.Var(rateFlag{&c.Limits.PerKey}, "limit-per-key", "codes under one rate_limit_key of a service (429, code 60203)")
	fs.Var(rateFlag{&c.Limits.PerService}, "limit-per-service", "codes of one service (429, code 20429)")
	fs.Var(rateFlag{&c.Limits.PerAccount}, "limit-per-account", "every SMS of an account, codes and messages (429, code 20429)")
	fs.StringVar(&c.VerifySender, "verify-sender", "Verify", "the sender ID of Verify v2 codes (/v2/...) where the destination's route has no default_sender: Verify v2 requests name none")
	fs.IntVar(&c.Pumping.PrefixSends, "pumping-prefix-sends", 15, "SMS-pumping guard: a prefix (a number less its last 4 digits) is judged from this many codes in --pumping-window")
	fs.DurationVar(&c.Pumping.Window, "pumping-window", 10*time.Minute, "SMS-pumping guard: codes and approvals are compared over this window")
	fs.Float64Var(&c.Pumping.MaxConversion, "pumping-min-conversion", 0.2, "SMS-pumping guard: a prefix (or a spiking operator or country) whose share of approved codes is under this is blocked (403, code 60410)")
	fs.Func("abuse-guard", "on, or off to turn the rate limits, the daily budgets, the resend cooldown and the SMS-pumping guard off for load tests (geo permissions, the messages API ceiling and each verification's 5 checks and 5 sends stay) (default on)", func(v string) error {
		switch v {
		case "on":
			c.NoAbuseGuard = false
		case "off":
			c.NoAbuseGuard = true
		default:
			return fmt.Errorf("%q: want on or off", v)
		}
		return nil
	})
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.Func("smpp", "an SMPP connector, smpp://SYSTEM_ID:PASSWORD@HOST:PORT?name=NAME&bind=trx&window=50&tps=0 (repeatable, in order of preference; PASSWORD may be $ENV_VAR); none: sandbox delivery", func(v string) error {
		c.SMPP = append(c.SMPP, v)
		return nil
	})
	fs.StringVar(&c.SMTP, "smtp", "", "the SMTP relay codes sent by email go through: smtp://USER:PASSWORD@HOST:PORT (STARTTLS required; tls=opportunistic for clear text to a relay without it) or smtps://... (TLS from the start), ?auth=plain|login&ca=FILE&conns=4&timeout=30s&name=NAME&tls=required|opportunistic (PASSWORD may be $ENV_VAR); none: emails go to the sandbox inbox with sandbox delivery, else are refused")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "the sender address of code emails, e.g. codes@example.com (required with --smtp)")
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", false, "allow callback URLs on loopback, private and link-local addresses (development and tests only)")
	fs.DurationVar(&c.CallbackRetry, "callback-retry", 5*time.Second, "wait before a failed status callback is tried again, doubling up to 1h; callbacks are tried for at least 24h")
	fs.DurationVar(&c.MaxBacklog, "max-backlog", dispatch.DefaultMaxBacklog, "refuse new sends (429, code 20429) while a route's waiting messages would take longer than this to send at its rate; 0 or less: never refuse")
	fs.DurationVar(&c.OutboxLease, "outbox-lease", 2*time.Minute, "how long a node holds a message it is sending; a node that dies holding some, and does not come back, leaves them to the others after this")
	fs.StringVar(&c.ConfigFile, "config", "", "a JSON file of connectors, routes and approved sender IDs (see examples/jordan.json)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "if set, serve Go's pprof profiles, without auth, at http://ADDR/debug/pprof/; a loopback address only, unless --debug-addr-public")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS (HTTP/2) with this certificate file (PEM, the chain after the leaf); read again on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	fs.DurationVar(&c.SandboxKeep, "sandbox-keep", 24*time.Hour, "how long the sandbox inbox keeps a message (sandbox delivery only)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "if set, serve Prometheus metrics at http://ADDR/metrics, without auth (keep it off the public network)")
	fs.StringVar(&c.MetricsToken, "metrics-token", "", "if set, also serve GET /metrics on --addr to requests with \"Authorization: Bearer TOKEN\" (at least 16 characters)")
	fs.BoolVar(&c.Console, "console", false, "serve the web console at /console: charts, the message log, guard blocks, the audit log; sign in with a token from otpgate operator-token")
	fs.BoolVar(&c.DebugAddrPublic, "debug-addr-public", false, "allow --debug-addr to listen beyond loopback (pprof has no auth: anyone who reaches it reads the process's memory profile)")
}

// Validate checks the configuration, naming the flag at fault.
func (c *ServeConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080", c.Addr)
	}
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.DebugAddr != "" && !c.DebugAddrPublic && !loopbackAddr(c.DebugAddr) {
		return fmt.Errorf("--debug-addr %s: pprof has no authentication, so it listens on loopback only (127.0.0.1:PORT, [::1]:PORT, localhost:PORT); add --debug-addr-public to listen there anyway", c.DebugAddr)
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		return errors.New("--metrics-token: at least 16 characters (say, openssl rand -hex 16)")
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr %q: want host:port, e.g. 127.0.0.1:9464", c.MetricsAddr)
		}
	}
	if c.CodeLength < verification.MinCodeLength || c.CodeLength > verification.MaxCodeLength {
		return fmt.Errorf("--code-length %d: must be %d-%d", c.CodeLength, verification.MinCodeLength, verification.MaxCodeLength)
	}
	if c.DBMaxConns != 0 && (c.DBMaxConns < 2 || c.DBMaxConns > 1000) {
		return fmt.Errorf("--db-max-conns %d: must be 2-1000", c.DBMaxConns)
	}
	if c.DBStatementTimeout != 0 && c.DBStatementTimeout < 100*time.Millisecond {
		return fmt.Errorf("--db-statement-timeout %s: must be at least 100ms", c.DBStatementTimeout)
	}
	if c.OutboxLease != 0 && (c.OutboxLease < time.Second || c.OutboxLease > time.Hour) {
		return fmt.Errorf("--outbox-lease %s: must be between 1s and 1h", c.OutboxLease)
	}
	if c.AuditKeep != 0 && c.AuditKeep < 90*24*time.Hour {
		return fmt.Errorf("--audit-keep %s: the audit log keeps entries at least 90 days (2160h)", c.AuditKeep)
	}
	if c.CallbackRetry < 0 || c.CallbackRetry > time.Hour {
		return fmt.Errorf("--callback-retry %s: must be between 0 (5s) and 1h", c.CallbackRetry)
	}
	if c.CodeTTL < verification.MinTTL || c.CodeTTL > verification.MaxTTL {
		return fmt.Errorf("--code-ttl %s: must be between 1m and 24h", c.CodeTTL)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: must be text or json", c.LogFormat)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: must be debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(c ServeConfig, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serveGOGC is the garbage collector's setting for serve when the GOGC
// environment variable is not set: the heap may grow to 5 times what is
// live before a collection, instead of Go's 2 times. A request allocates
// as it parses, hashes and answers, and at 100 collecting took a tenth of
// the server's CPU under load; at 400, sends and checks under load go 7%
// and 13% faster, for about 150 MB more at the peak. GOGC=100 restores
// Go's default; GOMEMLIMIT caps the heap (see docs/operations.md).
const serveGOGC = 400

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate serve", flag.ContinueOnError)
	var cfg ServeConfig
	cfg.flags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate serve [flags]\n\nRuns the API server. With no connector configured, delivery is the sandbox:\nmessages go to an inbox served at GET /sandbox/messages?to=NUMBER.\n\nFlags (each also an OTPGATE_* environment variable, e.g. OTPGATE_DATA_DIR):\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGOGC)
	}
	m := &Main{Config: cfg, Stdout: stdout, Logger: nil, LogOutput: stderr, TokenFile: !isTerminal(stdout)}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-hup:
			if err := m.ReloadTLS(); err != nil {
				m.Logger.Error("SIGHUP: the TLS certificate was not reloaded; the old one is still served", "err", err)
			} else if m.certs != nil {
				m.Logger.Info("SIGHUP: TLS certificate reloaded")
			}
		}
	}
	m.Logger.Info("shutting down")
	return m.Close()
}

// Main is a running otpgate server. Tests start it on port 0 with a
// temporary data directory.
type Main struct {
	Config ServeConfig
	Clock  otpgate.Clock
	Stdout io.Writer // where the first-start account is printed
	// TokenFile, when set, writes the first-start account's token to
	// DATA_DIR/first-account.txt (mode 0600) instead of Stdout, which then
	// says where: set when Stdout is not a terminal (a log would keep it).
	TokenFile bool
	LogOutput io.Writer
	Logger    *slog.Logger

	lock       *os.File
	store      Store
	keys       *keyring.Keys
	registry   *prometheus.Registry // every component's metrics
	metrics    http.Handler         // serves registry
	audit      *audit.Log
	ceilings   *guard.Ceilings
	smpp       []*smpp.Connector
	smtp       *mail.Connector // with --smtp
	emailFrom  string          // the sender of emails; "" when none are sent
	sandboxed  bool            // delivery is the sandbox: its inbox is served, and forgotten after SandboxKeep
	webhooks   *webhook.Sender
	dispatcher *dispatch.Dispatcher
	pumping    *guard.Pumping // nil with --abuse-guard=off
	api        *api.Server    // its Routes are what /openapi.json must describe
	certs      *certReloader  // with --tls-cert
	http       *httpServer    // the API's
	// running are the components started, in order; Close stops them in
	// the reverse order.
	running []component
}

// Run opens the data directory and starts the server; it returns once the
// server is listening. It builds each part from the config, then starts
// the components in order: the delivery, the guard's and the services'
// loops, and HTTP last.
func (m *Main) Run(ctx context.Context) error {
	if err := m.setDefaults(); err != nil {
		return err
	}
	fc, phones, err := m.open(ctx)
	if err != nil {
		return err
	}
	m.newMetrics()
	m.instrumentStore()
	d, err := m.newDelivery(fc)
	if err != nil {
		return err
	}
	g := m.newGuard(phones, fc)
	svc, err := m.newServices(phones, d, g)
	if err != nil {
		return err
	}
	auth := account.NewAuthenticator(m.store)
	if err := auth.Load(ctx); err != nil {
		return err
	}
	handler, err := m.newAPI(phones, fc, d, svc, auth)
	if err != nil {
		return err
	}
	servers, err := m.listen(handler)
	if err != nil {
		return err
	}

	for _, c := range m.smpp {
		m.start(ctx, c) // stopped after the dispatcher: its last sends finish first
	}
	m.start(ctx, m.webhooks, m.dispatcher) // the sender outlives the dispatcher, to POST its last statuses' callbacks
	if !m.Config.NoAbuseGuard {
		// The pumping guard's and the budgets' Start read the shared counts
		// and blocks, before the first request.
		m.start(ctx, g.forgetter, m.pumping, g.budget)
	}
	m.start(ctx, audit.Forgetter(m.store, m.Config.AuditKeep, m.Clock, m.Logger))
	m.start(ctx, dispatch.OrphanForgetter(m.store, m.Clock, m.Logger))
	// A token rotated or an account disabled on any node (or by the CLI)
	// stops working here within a quarter second.
	m.start(ctx, auth.Watcher(250*time.Millisecond))
	if m.sandboxed {
		m.start(ctx, sandbox.Forgetter(m.store, m.Config.SandboxKeep, m.Clock, m.Logger))
	}
	m.start(ctx, &verify.Sweeper{Service: svc.verify, Logger: m.Logger})
	m.start(ctx, &verify.Fallbacks{Service: svc.verify, Logger: m.Logger})
	for _, s := range servers {
		m.start(ctx, s) // the API's last, and stopped first
	}
	m.http = servers[len(servers)-1]
	m.announce()
	return nil
}

// Addr is the address the server listens on.
func (m *Main) Addr() string { return m.http.Addr() }

// Close stops the components Run started, in the reverse order: HTTP first
// (the requests in flight finish), then the workers drain; then it closes
// the store. It is safe to call twice.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.running) - 1; i >= 0; i-- {
		m.running[i].Stop()
	}
	m.running = nil
	if m.http != nil {
		errs = append(errs, m.http.shutdownErr())
	}
	m.smpp = nil
	if m.smtp != nil {
		m.smtp.Close() // the relay connections kept open; the dispatcher has stopped
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
		m.store = nil
	}
	if m.lock != nil {
		m.lock.Close()
		m.lock = nil
	}
	return errors.Join(errs...)
}

// firstStart creates an account when the data directory has none, and prints
// it once with a curl to try, and how to read the code where it is
// delivered: the sandbox inbox, or with SMPP the simulator's messages.
func (m *Main) firstStart(ctx context.Context) error {
	// Nodes starting at once on an empty database make one account between
	// them: each looks while it holds the store's first-start lock.
	return m.store.InFirstStart(ctx, m.firstAccount)
}

// firstAccount makes and prints the first account, if there is none.
func (m *Main) firstAccount(ctx context.Context) error {
	accs, err := m.store.Accounts(ctx)
	if err != nil || len(accs) > 0 {
		return err
	}
	// Run makes the connectors later; their names are read here first, so
	// a configuration that cannot start creates no account.
	smppNames, err := m.smppNames()
	if err != nil {
		return err
	}
	c, err := account.Create(ctx, m.store, m.keys, "default", m.Clock.Now())
	if err != nil {
		return err
	}
	audit.NewLog(m.store, m.Logger, m.Clock).Record(ctx, audit.Actor{Kind: audit.ActorCLI, Name: "first start"},
		audit.Entry{AccountSID: c.SID, Kind: audit.KindAccount, Action: "create", Target: c.SID, After: map[string]string{"sid": c.SID, "name": c.Name}})
	host := m.Config.Addr
	if h, p, err := net.SplitHostPort(host); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	delivery := "delivered to the sandbox inbox"
	read := fmt.Sprintf("Read it:\n  curl http://%s/sandbox/messages?to=962790320012 --user '%s:%s'", host, c.SID, c.AuthToken)
	if len(smppNames) > 0 {
		delivery = "delivered over SMPP by connector " + smppNames[0]
		if len(smppNames) > 1 {
			last := len(smppNames) - 1
			delivery = "delivered over SMPP by connector " + strings.Join(smppNames[:last], ", ") + " or " + smppNames[last] + ", as its number's route says"
		}
		delivery += "; a real SMSC delivers it to the phone"
		read = "Read it: there is no sandbox inbox with SMPP, and the message log hides codes (******).\n" +
			"With otpgate smsc-sim as the SMSC, the simulator prints each message it takes, and serves\n" +
			"them on its --http address (" + defaultSimHTTP + " unless changed) on the machine it runs on:\n" +
			"  curl 'http://" + defaultSimHTTP + "/messages?to=962790320012'"
	}
	text := fmt.Sprintf(`
First start: created account %q. The auth token is shown only this once.
  Account SID: %s
  Auth token:  %s

Send a code (%[5]s):
  curl -X POST http://%[4]s/2fa/send --user '%[2]s:%[3]s' \
    -H 'Content-Type: application/json' \
    -d '{ "service" : "Restcomm", "from" : "MyApp", "to" : "962790320012", "body": "Your verification code is: {code}" }'
%[6]s
Check it:
  curl -X POST http://%[4]s/2fa/verify --user '%[2]s:%[3]s' \
    -H 'Content-Type: application/json' \
    -d '{ "service" : "Restcomm", "number" : "962790320012", "code" : "THE_CODE" }'

`, c.Name, c.SID, c.AuthToken, host, delivery, read)
	if !m.TokenFile {
		_, err := io.WriteString(m.Stdout, text)
		return err
	}
	path := filepath.Join(m.Config.DataDir, "first-account.txt")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("first start: writing the new account's token: %w", err)
	}
	fmt.Fprintf(m.Stdout, "\nFirst start: created account %q.\n  Account SID: %s\n  Auth token:  in %s (mode 0600), not printed: standard output is not a terminal, and a log would keep it. Read it, then delete the file.\n\n",
		c.Name, c.SID, path)
	m.Logger.Info("first start: the new account's auth token is in a file, not in this log", "account_sid", c.SID, "file", path)
	return nil
}

// smppNames names the SMPP connectors of --smpp and --config, in the order
// Run makes them (see connectors); none means sandbox delivery.
func (m *Main) smppNames() ([]string, error) {
	var names []string
	for _, u := range m.Config.SMPP {
		cfg, err := smpp.ParseURL(u, os.LookupEnv)
		if err != nil {
			return nil, fmt.Errorf("--smpp: %w", err)
		}
		names = append(names, cfg.Name)
	}
	if m.Config.ConfigFile != "" {
		fc, err := LoadFileConfig(m.Config.ConfigFile)
		if err != nil {
			return nil, err
		}
		for _, c := range fc.Connectors {
			if _, err := smpp.ParseURL(c.URL, os.LookupEnv); err != nil {
				return nil, fmt.Errorf("--config %s: connector %q: %w", m.Config.ConfigFile, c.Name, err)
			}
			names = append(names, c.Name)
		}
	}
	return names, nil
}

// ReloadTLS reads --tls-cert and --tls-key again (what SIGHUP does); the
// certificate served changes only if they read well.
func (m *Main) ReloadTLS() error {
	if m.certs == nil {
		return nil
	}
	return m.certs.Reload()
}

// isTerminal reports whether w is a terminal. A character device is not
// enough: /dev/null is one too, and `serve >/dev/null` (a unit with
// StandardOutput=null) would print the first token into it.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lockDataDir takes an exclusive lock so two servers never share a data directory.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "otpgate.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("--data-dir %s is in use by another otpgate serve (lock: %v)", dir, err)
	}
	return f, nil
}

// loadSecret reads the server secret, creating it (0600) on first start when
// no file was named.
func loadSecret(file, dataDir string) ([]byte, error) {
	create := false
	if file == "" {
		file, create = filepath.Join(dataDir, "secret"), true
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) && create {
		var s [32]byte
		rand.Read(s[:])
		enc := hex.EncodeToString(s[:])
		f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create server secret: %w", err)
		}
		if _, err := f.WriteString(enc + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("write server secret: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		return s[:], nil
	}
	if err != nil {
		return nil, fmt.Errorf("read server secret: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("server secret %s must hold at least 64 hex characters (32 bytes)", file)
	}
	return secret, nil
}

// loopbackAddr reports whether host:port names only the loopback interface
// (an empty host listens on every interface).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
