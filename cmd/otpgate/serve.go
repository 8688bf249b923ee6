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
	_ "net/http/pprof" // served only on --debug-addr
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/term"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/api/accountsapi"
	"github.com/otpgate/otpgate/internal/api/guardapi"
	"github.com/otpgate/otpgate/internal/api/inbox"
	"github.com/otpgate/otpgate/internal/api/operatorapi"
	"github.com/otpgate/otpgate/internal/api/restcomm"
	"github.com/otpgate/otpgate/internal/api/twilio"
	"github.com/otpgate/otpgate/internal/api/twofa"
	"github.com/otpgate/otpgate/internal/api/verifyv2"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/keyring"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/openapi"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/sms"
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
	dispatcher *dispatch.Dispatcher
	webhooks   *webhook.Sender
	sweeper    *verify.Sweeper
	forgetter  *guard.Forgetter
	pumping    *guard.Pumping
	budget     *guard.Budget
	ceilings   *guard.Ceilings
	audit      *audit.Log
	// auditForgetter deletes audit entries older than --audit-keep.
	auditForgetter *periodic.Loop
	watch          *periodic.Loop // the token cache's
	// sandboxForgetter deletes sandbox inbox messages older than --sandbox-keep.
	sandboxForgetter *periodic.Loop
	certs            *certReloader // with --tls-cert
	sandboxed        bool          // delivery is the sandbox: its inbox is served, and forgotten after SandboxKeep
	smpp             []*smpp.Connector
	api              *api.Server // its Routes are what /openapi.json must describe
	server           *http.Server
	listener         net.Listener
	serveDone        chan error
	debug            *http.Server
	metrics          *http.Server         // with --metrics-addr
	registry         *prometheus.Registry // every component's metrics
}

// Run opens the data directory and starts the server; it returns once the
// server is listening.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	if m.Clock == nil {
		m.Clock = otpgate.SystemClock{}
	}
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.LogOutput == nil {
		m.LogOutput = io.Discard
	}
	if m.Logger == nil {
		m.Logger = newLogger(m.Config, m.LogOutput)
	}
	log := m.Logger
	if err := makeDataDir(m.Config.DataDir, dataDirHolds(m.Config.DB, m.Config.SecretFile), func(line string) { log.Warn(line) }); err != nil {
		return err
	}
	lock, err := lockDataDir(m.Config.DataDir)
	if err != nil {
		return err
	}
	m.lock = lock
	phones, err := phone.NewParser(m.Config.Region)
	if err != nil {
		return fmt.Errorf("--region: %w", err)
	}
	dbo := DBOptions{MaxConns: m.Config.DBMaxConns, StatementTimeout: m.Config.DBStatementTimeout}
	if isPostgres(m.Config.DB) {
		if dbo.Node, err = nodeID(m.Config.DataDir); err != nil {
			return err
		}
	}
	if m.store, err = openStore(ctx, m.Config.DB, m.Config.DataDir, log, dbo); err != nil {
		return err
	}
	// The secret the store was set up with, or a new one for a new store
	// (before the first account is sealed under it).
	secret := serverSecret{File: m.Config.SecretFile, DataDir: m.Config.DataDir, Shared: isPostgres(m.Config.DB), Create: true,
		Notice: func(line string) { log.Info(line) }}
	if m.keys, err = secret.keys(ctx, m.store); err != nil {
		return err
	}
	if err := m.firstStart(ctx); err != nil {
		return err
	}
	// This process holds the data directory's lock, so no other dispatcher
	// can hold a claim: what a crashed run had claimed is due again now.
	if n, err := m.store.ReleaseLeases(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Info("outbox: messages claimed before a crash are due again", "count", n)
	}
	var fileCfg FileConfig
	if m.Config.ConfigFile != "" {
		if fileCfg, err = LoadFileConfig(m.Config.ConfigFile); err != nil {
			return err
		}
	}

	// Metrics: one registry, given to each component.
	m.registry = prometheus.NewRegistry()
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bi := buildInfo()
	buildGauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "otpgate_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.GoVersion}})
	buildGauge.Set(1)
	m.registry.MustRegister(buildGauge)

	// Delivery: connectors, routes, the dispatcher, the webhook sender.
	sink := &smppSink{}
	connectors, err := m.connectors(fileCfg, sink)
	if err != nil {
		return err
	}
	if len(connectors) > 0 {
		sm := smpp.NewMetrics(m.registry)
		for _, c := range connectors {
			c.Instrument(sm)
		}
	}
	var senders pipeline.Senders
	var route func(string) dispatch.Route
	if len(connectors) == 0 {
		if len(fileCfg.Routes) > 0 {
			return errors.New("--config has routes but no connectors; add connectors to it (or --smpp)")
		}
		sb := sandbox.New(m.store, m.Clock, log)
		route = func(string) dispatch.Route { return dispatch.Route{Key: "", Connectors: []sms.Connector{sb}} }
		m.sandboxed = true
	} else {
		if senders, route, err = routes(fileCfg, connectors); err != nil {
			return err
		}
	}
	policy := webhook.Policy{AllowPrivate: m.Config.WebhookAllowPrivate}
	m.webhooks = webhook.NewSender(webhook.SenderConfig{Store: m.store, Tokens: m.keys, Policy: policy, Clock: m.Clock, Logger: log, FirstRetry: m.Config.CallbackRetry})
	m.webhooks.Register(m.registry)
	maxBacklog := m.Config.MaxBacklog
	if maxBacklog <= 0 {
		maxBacklog = -1
	}
	m.dispatcher = dispatch.New(dispatch.Config{Store: m.store, Opener: m.keys, Route: route, Clock: m.Clock, Logger: log,
		MaxBacklog: maxBacklog, Lease: m.Config.OutboxLease, AfterStatus: m.webhooks.Wake})
	m.dispatcher.Register(m.registry)
	inboundAccounts := map[string]string{}
	for _, in := range fileCfg.Inbound {
		inboundAccounts[strings.TrimPrefix(in.To, "+")] = in.Account
	}
	receiver := &inbound.Receiver{Store: m.store, Log: log, Notify: m.webhooks.Wake,
		AccountFor: func(to string) string { return inboundAccounts[strings.TrimPrefix(to, "+")] }}
	sink.dispatcher, sink.inbound = m.dispatcher, receiver

	// Sending: the one pipeline, and the APIs' domains on it. Every send is
	// judged by its account's ceilings (the operator's policy for it over
	// the defaults), and every change to them is audited.
	m.audit = audit.NewLog(m.store, log, m.Clock)
	m.ceilings = guard.NewCeilings(guard.CeilingsConfig{Defaults: m.defaultCeilings(phones.Region(), fileCfg), Accounts: m.store, Clock: m.Clock})
	var limiters []pipeline.Limiter
	cooldown := m.Config.ResendCooldown
	var observers []pipeline.Observer
	policies := []pipeline.Policy{
		guard.Geo{},
		pipeline.PolicyFunc(guard.MessagesAPI),
		pipeline.PolicyFunc(func(_ context.Context, s pipeline.Send) error { return m.dispatcher.Admit(s.To.E164) }),
	}
	var approved func(context.Context, string, phone.Number)
	if m.Config.NoAbuseGuard {
		cooldown = 0
		log.Warn("the abuse guard is OFF (--abuse-guard=off): no rate limits, no daily budgets, no resend cooldown, no SMS-pumping guard; for load tests only, never in production")
	} else {
		limiters = append(limiters, guard.NewLimits(m.Config.Limits))
		m.forgetter = &guard.Forgetter{Store: m.store, Clock: m.Clock, Logger: log}
		m.forgetter.Start(context.WithoutCancel(ctx))
		pc := m.Config.Pumping
		pc.Store, pc.Clock, pc.Logger, pc.AfterEvent, pc.Audit = m.store, m.Clock, log, m.webhooks.Wake, m.audit
		pc.Services = m.store
		m.pumping = guard.NewPumping(pc)
		m.pumping.Register(m.registry)
		m.pumping.Start(context.WithoutCancel(ctx))
		m.budget = guard.NewBudget(guard.BudgetConfig{Store: m.store, Clock: m.Clock, Logger: log})
		m.budget.Start(context.WithoutCancel(ctx))
		policies = append(policies, m.budget, m.pumping)
		observers = append(observers, m.budget, m.pumping)
		approved = m.pumping.Approved
	}
	m.auditForgetter = audit.Forgetter(m.store, m.Config.AuditKeep, m.Clock, log)
	m.auditForgetter.Start(context.WithoutCancel(ctx))
	sends, err := pipeline.New(pipeline.Config{
		Store: m.store, Delivery: m.dispatcher, Phones: phones, Sealer: m.keys, Senders: senders, Ceilings: m.ceilings, Callback: policy,
		Clock: m.Clock, Policies: policies, Limiters: limiters, Observers: observers,
	})
	if err != nil {
		return err
	}
	vs, err := verify.New(verify.Config{
		Store: m.store, SMS: sends, Keys: m.keys, Phones: phones, Clock: m.Clock,
		CodeLength: m.Config.CodeLength, TTL: m.Config.CodeTTL, ResendCooldown: cooldown, AfterEvent: m.webhooks.Wake,
		Approved: approved, Metrics: verify.NewMetrics(m.registry), Audit: m.audit,
	})
	if err != nil {
		return err
	}
	msgs := messaging.New(messaging.Config{Store: m.store, SMS: sends, Clock: m.Clock, AfterStatus: m.webhooks.Wake})
	auth := account.NewAuthenticator(m.store)
	if err := auth.Load(ctx); err != nil {
		return err
	}
	// A token rotated or an account disabled on any node (or by the CLI)
	// stops working here within a quarter second.
	m.watch = auth.Watcher(250 * time.Millisecond)
	m.watch.Start(context.WithoutCancel(ctx))
	pumping := m.pumping
	health := func() map[string]string {
		switch {
		case pumping == nil:
			return map[string]string{"abuse_guard": "off"}
		case pumping.Failing():
			return map[string]string{"abuse_guard": "on", "pumping_guard": "failing open: its shared state cannot be reached"}
		}
		return map[string]string{"abuse_guard": "on"}
	}
	srv := api.New(api.Config{Auth: auth, Logger: log, Ready: m.store.Ping, Health: health, Metrics: api.NewMetrics(m.registry),
		Operators: m.store, Audit: m.audit, HSTS: m.Config.TLSCert != ""})
	metricsHandler := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError})
	if token := m.Config.MetricsToken; token != "" {
		srv.ServeMetrics(metricsHandler, token)
	}
	m.api = srv
	openapi.Register(srv)
	admin := &guard.Admin{Store: m.store, Ceilings: m.ceilings, Pumping: pumping, Phones: phones, Audit: m.audit, ServiceChanged: vs.Forget}
	twofa.Register(srv, vs)
	guardapi.Register(srv, admin, pumping != nil)
	operatorapi.Register(srv, admin, m.store)
	accountsapi.Register(srv, accountsapi.Config{Store: m.store, Keys: m.keys, Auth: auth, Audit: m.audit, Clock: m.Clock})
	verifyv2.Register(srv, verifyv2.Config{Store: m.store, Verify: vs, CodeLength: m.Config.CodeLength, TTL: m.Config.CodeTTL,
		Sender: m.Config.VerifySender, AfterEvent: m.webhooks.Wake, URLs: policy, Audit: m.audit, Clock: m.Clock})
	if err := m.serveConsole(srv, phones, fileCfg.Routes, admin); err != nil {
		return err
	}
	twilio.Register(srv, twilio.Messages{Messages: msgs, Phones: phones})
	restcomm.Register(srv, twilio.Messages{Messages: msgs, Phones: phones})
	if m.sandboxed {
		// The sandbox inbox exists only where the sandbox delivers; it
		// forgets messages after --sandbox-keep.
		inbox.Register(srv, inbox.Inbox{Store: m.store, Phones: phones, Inbound: receiver, Messages: msgs, Clock: m.Clock})
		m.sandboxForgetter = sandbox.Forgetter(m.store, m.Config.SandboxKeep, m.Clock, log)
		m.sandboxForgetter.Start(context.WithoutCancel(ctx))
	}

	for _, c := range m.smpp {
		c.Start(ctx)
	}
	m.dispatcher.Start(ctx)
	m.webhooks.Start(ctx)
	m.sweeper = &verify.Sweeper{Service: vs, Logger: log}
	m.sweeper.Start(ctx)

	// The listener and the server are Main's only once serving starts, so
	// a Run that fails before that leaves nothing for Close to wait on.
	listener, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	server := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    4 * api.MaxHeaderBytes, // above the API's own limit, which answers in JSON
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if m.Config.TLSCert != "" {
		if m.certs, err = newCertReloader(m.Config.TLSCert, m.Config.TLSKey); err != nil {
			listener.Close()
			return err
		}
		server.TLSConfig = m.certs.tlsConfig()
	}
	if m.Config.DebugAddr != "" {
		dl, err := net.Listen("tcp", m.Config.DebugAddr)
		if err != nil {
			listener.Close()
			return fmt.Errorf("--debug-addr: %w", err)
		}
		m.debug = &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		go m.debug.Serve(dl)
		log.Info("pprof listening", "addr", dl.Addr().String())
	}
	if m.Config.MetricsAddr != "" {
		ml, err := net.Listen("tcp", m.Config.MetricsAddr)
		if err != nil {
			listener.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		m.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go m.metrics.Serve(ml)
		log.Info("metrics listening", "url", "http://"+ml.Addr().String()+"/metrics")
	} else if m.Config.MetricsToken == "" {
		log.Info("metrics are not served: set --metrics-addr, or --metrics-token to serve GET /metrics here")
	}
	m.listener, m.server, m.serveDone = listener, server, make(chan error, 1)
	if m.Config.TLSCert != "" {
		go func() { m.serveDone <- server.ServeTLS(listener, "", "") }()
	} else {
		go func() { m.serveDone <- server.Serve(api.JSONErrorsListener(listener)) }()
	}
	delivery := "sandbox"
	if len(m.smpp) > 0 {
		delivery = "SMPP"
	}
	log.Info("otpgate listening", "addr", m.listener.Addr().String(), "store", describeStore(m.Config.DB, m.Config.DataDir),
		"delivery", delivery, "data_dir", m.Config.DataDir, "version", version)
	if len(m.smpp) == 0 {
		log.Info("delivery: sandbox (no real connector configured); messages are kept in the sandbox inbox at GET /sandbox/messages?to=NUMBER")
	} else {
		names := make([]string, len(m.smpp))
		for i, c := range m.smpp {
			names[i] = c.Name()
		}
		log.Info("delivery: SMPP, every destination to the first bound connector of its route; a real SMSC delivers to the phone, "+
			"and the message log hides codes; with otpgate smsc-sim as the SMSC, read what it took at its --http address",
			"connectors", strings.Join(names, ","), "smsc_sim_messages", "http://"+defaultSimHTTP+"/messages?to=NUMBER")
	}
	return nil
}

// defaultCeilings are the ceilings of an account the operator set none
// for: the flags, under what the config file's "policy" sets (its
// "countries", or the top-level "countries", or else the region).
func (m *Main) defaultCeilings(region string, fc FileConfig) policy.Effective {
	d := policy.Effective{Countries: region, PerNumber: m.Config.PerNumber, DailyBudget: m.Config.DailyBudget, Messages: policy.MessagesAny}
	if fc.Countries != "" {
		d.Countries = fc.Countries
	}
	return d.Apply(fc.Policy)
}

// connectors makes the SMPP connectors of --smpp and the config file, in
// order; they are started later.
func (m *Main) connectors(fileCfg FileConfig, sink *smppSink) ([]*smpp.Connector, error) {
	urls := m.Config.SMPP
	for _, c := range fileCfg.Connectors {
		urls = append(urls, c.URL) // named below
	}
	seen := map[string]bool{}
	for i, u := range urls {
		cfg, err := smpp.ParseURL(u, os.LookupEnv)
		if j := i - len(m.Config.SMPP); err != nil && j >= 0 {
			return nil, fmt.Errorf("--config %s: connector %q: %w", m.Config.ConfigFile, fileCfg.Connectors[j].Name, err)
		} else if err != nil {
			return nil, fmt.Errorf("--smpp: %w", err)
		}
		if j := i - len(m.Config.SMPP); j >= 0 {
			cfg.Name = fileCfg.Connectors[j].Name
		}
		if seen[cfg.Name] {
			return nil, fmt.Errorf("two connectors are named %q; give each its own name", cfg.Name)
		}
		seen[cfg.Name] = true
		c, err := smpp.New(cfg, sink, m.Logger)
		if err != nil {
			return nil, err
		}
		m.smpp = append(m.smpp, c)
	}
	return m.smpp, nil
}

// routes makes the routing table of the config file over the connectors.
func routes(fileCfg FileConfig, conns []*smpp.Connector) (*routing.Table, func(string) dispatch.Route, error) {
	byName := map[string]*smpp.Connector{}
	var names []string
	for _, c := range conns {
		byName[c.Name()] = c
		names = append(names, c.Name())
	}
	table, err := routing.New(fileCfg.Routes, names)
	if err != nil {
		return nil, nil, fmt.Errorf("--config: %w", err)
	}
	route := func(to string) dispatch.Route {
		key := ""
		if r, ok := table.Match(to); ok {
			key = r.Prefix
		}
		out := dispatch.Route{Key: key}
		limited := true
		for _, n := range table.Connectors(to) {
			c := byName[n]
			out.Connectors = append(out.Connectors, c)
			if tps := c.TPS(); tps > 0 {
				out.TPS += tps
			} else {
				limited = false
			}
		}
		if !limited {
			out.TPS = 0
		}
		return out
	}
	return table, route, nil
}

// Addr is the address the server listens on.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Close stops taking requests, finishes those in flight, drains the
// dispatcher and closes the store. It is safe to call twice.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		errs = append(errs, m.server.Shutdown(ctx))
		cancel()
		if err := <-m.serveDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		m.server = nil
	}
	if m.sweeper != nil {
		m.sweeper.Stop()
		m.sweeper = nil
	}
	if m.forgetter != nil {
		m.forgetter.Stop()
		m.forgetter = nil
	}
	if m.auditForgetter != nil {
		m.auditForgetter.Stop()
		m.auditForgetter = nil
	}
	if m.watch != nil {
		m.watch.Stop()
		m.watch = nil
	}
	if m.sandboxForgetter != nil {
		m.sandboxForgetter.Stop()
		m.sandboxForgetter = nil
	}
	if m.pumping != nil {
		m.pumping.Stop() // a last share of its counts
		m.pumping = nil
	}
	if m.budget != nil {
		m.budget.Stop()
		m.budget = nil
	}
	if m.debug != nil {
		m.debug.Close()
		m.debug = nil
	}
	if m.metrics != nil {
		m.metrics.Close()
		m.metrics = nil
	}
	if m.dispatcher != nil {
		m.dispatcher.Stop()
		m.dispatcher = nil
	}
	if m.webhooks != nil {
		m.webhooks.Stop()
		m.webhooks = nil
	}
	for _, c := range m.smpp {
		c.Stop() // after the dispatcher: its last sends finish first
	}
	m.smpp = nil
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
