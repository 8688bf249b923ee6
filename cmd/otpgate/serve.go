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
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callbacks"
	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/httpapi"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

// ServeConfig is everything `otpgate serve` is configured with.
type ServeConfig struct {
	Addr       string
	DataDir    string
	SecretFile string
	Region     string
	CodeLength int
	CodeTTL    time.Duration
	LogLevel   string
	LogFormat  string
	DebugAddr  string
	SMPP       []string // smpp:// URLs, in order of preference
	ConfigFile string

	WebhookAllowPrivate bool
	CallbackRetry       time.Duration
}

func (c *ServeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&c.DataDir, "data-dir", "./otpgate-data", "directory for the database and the server secret (created if missing)")
	fs.StringVar(&c.SecretFile, "secret-file", "", "file holding the server secret (64 hex characters); default: DATA_DIR/secret, created on first start")
	fs.StringVar(&c.Region, "region", "JO", "region for numbers written without a country code (ISO 3166 code)")
	fs.IntVar(&c.CodeLength, "code-length", verify.DefaultCodeLength, "digits in a code, 4-10, for services created from now on")
	fs.DurationVar(&c.CodeTTL, "code-ttl", verify.DefaultTTL, "how long a code stays valid, 1m-24h, for services created from now on")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.Func("smpp", "an SMPP connector, smpp://SYSTEM_ID:PASSWORD@HOST:PORT?name=NAME&bind=trx&window=50&tps=0 (repeatable, in order of preference; PASSWORD may be $ENV_VAR); none: sandbox delivery", func(v string) error {
		c.SMPP = append(c.SMPP, v)
		return nil
	})
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", false, "allow callback URLs on loopback, private and link-local addresses (development and tests only)")
	fs.DurationVar(&c.CallbackRetry, "callback-retry", 5*time.Second, "wait before a failed status callback is tried again, doubling up to 1h; callbacks are tried for at least 24h")
	fs.StringVar(&c.ConfigFile, "config", "", "a JSON file of connectors, routes and approved sender IDs (see examples/jordan.json)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "if set, serve Go's pprof profiles at http://ADDR/debug/pprof/ (keep it on loopback)")
}

// Validate checks the configuration, naming the flag at fault.
func (c *ServeConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080", c.Addr)
	}
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if c.CodeLength < verify.MinCodeLength || c.CodeLength > verify.MaxCodeLength {
		return fmt.Errorf("--code-length %d: must be %d-%d", c.CodeLength, verify.MinCodeLength, verify.MaxCodeLength)
	}
	if c.CallbackRetry < 0 || c.CallbackRetry > time.Hour {
		return fmt.Errorf("--callback-retry %s: must be between 0 (5s) and 1h", c.CallbackRetry)
	}
	if c.CodeTTL < time.Minute || c.CodeTTL > 24*time.Hour {
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
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	m := &Main{Config: cfg, Stdout: stdout, Logger: nil, LogOutput: stderr}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}

// Main is a running otpgate server. Tests start it on port 0 with a
// temporary data directory.
type Main struct {
	Config    ServeConfig
	Clock     otpgate.Clock
	Stdout    io.Writer // where the first-start account is printed
	LogOutput io.Writer
	Logger    *slog.Logger

	lock       *os.File
	store      *sqlite.Store
	dispatcher *dispatch.Dispatcher
	server     *http.Server
	listener   net.Listener
	serveDone  chan error
	debug      *http.Server
	statsDone  chan struct{}
	keys       *verify.Keys
	sweepDone  chan struct{}
	callbacks  *callbacks.Sender
	smpp       []*smpp.Connector
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
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	lock, err := lockDataDir(m.Config.DataDir)
	if err != nil {
		return err
	}
	m.lock = lock
	secret, err := loadSecret(m.Config.SecretFile, m.Config.DataDir)
	if err != nil {
		return err
	}
	keys, err := verify.NewKeys(secret)
	if err != nil {
		return err
	}
	m.keys = keys
	phones, err := phone.NewParser(m.Config.Region)
	if err != nil {
		return fmt.Errorf("--region: %w", err)
	}
	m.store, err = sqlite.Open(ctx, filepath.Join(m.Config.DataDir, "otpgate.db"))
	if err != nil {
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
	var connectors []sms.Connector
	var smppConns []*smpp.Connector
	byName := map[string]sms.Connector{}
	var names []string
	sink := &smppSink{}
	urls := m.Config.SMPP
	for _, c := range fileCfg.Connectors {
		urls = append(urls, c.URL) // named below
	}
	for i, u := range urls {
		cfg, err := smpp.ParseURL(u, os.Getenv)
		if err != nil {
			return err
		}
		if j := i - len(m.Config.SMPP); j >= 0 {
			cfg.Name = fileCfg.Connectors[j].Name
		}
		if byName[cfg.Name] != nil {
			return fmt.Errorf("two connectors are named %q; give each its own name", cfg.Name)
		}
		c, err := smpp.New(cfg, sink, log)
		if err != nil {
			return err
		}
		smppConns = append(smppConns, c)
		connectors = append(connectors, c)
		byName[cfg.Name] = c
		names = append(names, cfg.Name)
	}
	var senders verify.SenderPolicy
	var route func(string) []sms.Connector
	if len(connectors) == 0 {
		if len(fileCfg.Routes) > 0 {
			return errors.New("--config has routes but no connectors; add connectors to it (or --smpp)")
		}
		connectors = append(connectors, sandbox.New(m.store, m.Clock, log))
	} else {
		table, err := routing.New(fileCfg.Routes, names)
		if err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		senders = table
		route = func(to string) []sms.Connector {
			var out []sms.Connector
			for _, n := range table.Connectors(to) {
				out = append(out, byName[n])
			}
			return out
		}
	}
	policy := webhook.Policy{AllowPrivate: m.Config.WebhookAllowPrivate}
	m.callbacks = callbacks.New(callbacks.Config{Store: m.store, Tokens: keys, Policy: policy, Clock: m.Clock, Logger: log, FirstRetry: m.Config.CallbackRetry})
	m.dispatcher = dispatch.New(dispatch.Config{Store: m.store, Opener: keys, Connectors: connectors, Route: route, Clock: m.Clock, Logger: log,
		AfterStatus: m.callbacks.Wake})
	inboundAccounts := map[string]string{}
	for _, in := range fileCfg.Inbound {
		inboundAccounts[strings.TrimPrefix(in.To, "+")] = in.Account
	}
	receiver := &inbound.Receiver{Store: m.store, Log: log, Notify: m.callbacks.Wake,
		AccountFor: func(to string) string { return inboundAccounts[strings.TrimPrefix(to, "+")] }}
	sink.dispatcher, sink.inbound = m.dispatcher, receiver
	for _, c := range smppConns {
		c.Start(ctx)
	}
	m.smpp = smppConns
	vs, err := verify.New(verify.Config{
		Store: m.store, Keys: keys, Phones: phones, Clock: m.Clock,
		CodeLength: m.Config.CodeLength, TTL: m.Config.CodeTTL, Notify: m.dispatcher.Wake, Outbox: m.dispatcher, Senders: senders,
		AfterEvent: m.callbacks.Wake,
	})
	if err != nil {
		return err
	}
	auth := account.NewAuthenticator(m.store)
	if err := auth.Load(ctx); err != nil {
		return err
	}
	msgs := messaging.New(messaging.Config{
		Store: m.store, Sealer: keys, Phones: phones, Senders: senders, Outbox: m.dispatcher, Notify: m.dispatcher.Wake, Clock: m.Clock,
		Callbacks: policy, AfterStatus: m.callbacks.Wake,
	})
	api := httpapi.New(httpapi.Config{Verify: vs, Auth: auth, Store: m.store, Phones: phones, Messages: msgs, Inbound: receiver, Logger: log})
	m.dispatcher.Start(context.WithoutCancel(ctx))
	m.callbacks.Start(ctx)
	m.sweepDone = make(chan struct{})
	go sweepExpired(m.sweepDone, vs, log)
	m.statsDone = make(chan struct{})
	go logStats(m.statsDone, m.store, log)

	m.listener, err = net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	m.server = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if m.Config.DebugAddr != "" {
		dl, err := net.Listen("tcp", m.Config.DebugAddr)
		if err != nil {
			return fmt.Errorf("--debug-addr: %w", err)
		}
		m.debug = &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		go m.debug.Serve(dl)
		log.Info("pprof listening", "addr", dl.Addr().String())
	}
	m.serveDone = make(chan error, 1)
	go func() { m.serveDone <- m.server.Serve(m.listener) }()
	log.Info("otpgate listening", "addr", m.listener.Addr().String(), "data_dir", m.Config.DataDir, "version", version)
	if len(smppConns) == 0 {
		log.Info("delivery: sandbox (no real connector configured); messages are kept in the sandbox inbox at GET /sandbox/messages?to=NUMBER")
	} else {
		names := make([]string, len(smppConns))
		for i, c := range smppConns {
			names[i] = c.Name()
		}
		log.Info("delivery: SMPP, every destination to the first bound connector of this order", "connectors", strings.Join(names, ","))
	}
	return nil
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
	if m.statsDone != nil {
		close(m.statsDone)
		m.statsDone = nil
	}
	if m.sweepDone != nil {
		close(m.sweepDone)
		m.sweepDone = nil
	}
	if m.debug != nil {
		m.debug.Close()
		m.debug = nil
	}
	if m.dispatcher != nil {
		m.dispatcher.Stop()
		m.dispatcher = nil
	}
	if m.callbacks != nil {
		m.callbacks.Stop()
		m.callbacks = nil
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
// it once with a curl to try.
func (m *Main) firstStart(ctx context.Context) error {
	accs, err := m.store.Accounts(ctx)
	if err != nil || len(accs) > 0 {
		return err
	}
	c, err := account.Create(ctx, m.store, m.keys, "default", m.Clock.Now())
	if err != nil {
		return err
	}
	host := m.Config.Addr
	if h, p, err := net.SplitHostPort(host); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	fmt.Fprintf(m.Stdout, `
First start: created account %q. The auth token is shown only this once.
  Account SID: %s
  Auth token:  %s

Send a code (delivered to the sandbox inbox):
  curl -X POST http://%[4]s/2fa/send --user '%[2]s:%[3]s' \
    -H 'Content-Type: application/json' \
    -d '{ "service" : "Restcomm", "from" : "MyApp", "to" : "962790320012", "body": "Your verification code is: {code}" }'
Read it:
  curl http://%[4]s/sandbox/messages?to=962790320012 --user '%[2]s:%[3]s'
Check it:
  curl -X POST http://%[4]s/2fa/verify --user '%[2]s:%[3]s' \
    -H 'Content-Type: application/json' \
    -d '{ "service" : "Restcomm", "number" : "962790320012", "code" : "THE_CODE" }'

`, c.Name, c.SID, c.AuthToken, host)
	return nil
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

// logStats logs the store's group-commit counters every 10 s at debug level.
func logStats(done <-chan struct{}, store *sqlite.Store, log *slog.Logger) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var last sqlite.Stats
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if !log.Enabled(context.Background(), slog.LevelDebug) {
			continue
		}
		st := store.Stats()
		batches := st.Batches - last.Batches
		if batches == 0 {
			continue
		}
		log.Debug("store group commits (last 10 s)", "batches", batches, "ops", st.Ops-last.Ops,
			"ops_per_batch", float64(st.Ops-last.Ops)/float64(batches),
			"busy", (st.Busy - last.Busy).Round(time.Millisecond), "in_commit", (st.Commit - last.Commit).Round(time.Millisecond),
			"safe_passes", st.SafePasses-last.SafePasses,
			"wal_restarts", st.WALRestarts-last.WALRestarts, "in_wal_restarts", (st.WALRestartTime - last.WALRestartTime).Round(time.Millisecond))
		last = st
	}
}

// sweepExpired marks expired verifications (their events go to the
// services' events URLs) every 2 seconds.
func sweepExpired(done <-chan struct{}, vs *verify.Service, log *slog.Logger) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		for {
			n, err := vs.ExpireDue(context.Background())
			if err != nil {
				log.Warn("marking expired verifications failed", "err", err)
			}
			if n < 500 {
				break
			}
		}
	}
}
