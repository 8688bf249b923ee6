package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/api/accountsapi"
	"github.com/otpgate/otpgate/internal/api/guardapi"
	"github.com/otpgate/otpgate/internal/api/inbox"
	"github.com/otpgate/otpgate/internal/api/operatorapi"
	"github.com/otpgate/otpgate/internal/api/restcomm2fa"
	"github.com/otpgate/otpgate/internal/api/restcommsms"
	"github.com/otpgate/otpgate/internal/api/twilio"
	"github.com/otpgate/otpgate/internal/api/verifyv2"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/factor"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/mail"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/openapi"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

// The parts of a running server, built by Run from the config in this
// order: the store (open), the delivery (connectors, the dispatcher, the
// webhook sender), the guard, the services on the send pipeline, the APIs,
// and the HTTP servers (listen).

// component is a part of the server that works in the background from
// Start until Stop: its own goroutines, a listener. Stop waits for that
// work to end and is safe to call twice.
type component interface {
	Start(ctx context.Context)
	Stop()
}

// start starts cs in order; Close stops every component started, in the
// reverse order. They run until Stop, not until Run's ctx ends, so that a
// signal stops HTTP first and then drains the workers.
func (m *Main) start(ctx context.Context, cs ...component) {
	for _, c := range cs {
		c.Start(context.WithoutCancel(ctx))
		m.running = append(m.running, c)
	}
}

// setDefaults checks the config and fills what a test or the command line
// left unset.
func (m *Main) setDefaults() error {
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
	return nil
}

// open locks the data directory, opens the store with the server secret,
// creates the first account (when there is none), makes due again what a
// crashed run had claimed, and reads the config file.
func (m *Main) open(ctx context.Context) (FileConfig, *phone.Parser, error) {
	var fc FileConfig
	log := m.Logger
	if err := makeDataDir(m.Config.DataDir, dataDirHolds(m.Config.DB, m.Config.SecretFile), func(line string) { log.Warn(line) }); err != nil {
		return fc, nil, err
	}
	lock, err := lockDataDir(m.Config.DataDir)
	if err != nil {
		return fc, nil, err
	}
	m.lock = lock
	phones, err := phone.NewParser(m.Config.Region)
	if err != nil {
		return fc, nil, fmt.Errorf("--region: %w", err)
	}
	dbo := DBOptions{MaxConns: m.Config.DBMaxConns, StatementTimeout: m.Config.DBStatementTimeout}
	if isPostgres(m.Config.DB) {
		if dbo.Node, err = nodeID(m.Config.DataDir); err != nil {
			return fc, nil, err
		}
	}
	if m.store, err = openStore(ctx, m.Config.DB, m.Config.DataDir, log, dbo); err != nil {
		return fc, nil, err
	}
	// The secret the store was set up with, or a new one for a new store
	// (before the first account is sealed under it).
	secret := serverSecret{File: m.Config.SecretFile, DataDir: m.Config.DataDir, Shared: isPostgres(m.Config.DB), Create: true,
		Notice: func(line string) { log.Info(line) }}
	if m.keys, err = secret.keys(ctx, m.store); err != nil {
		return fc, nil, err
	}
	if err := m.firstStart(ctx); err != nil {
		return fc, nil, err
	}
	// This process holds the data directory's lock, so no other dispatcher
	// can hold a claim: what a crashed run had claimed is due again now.
	if n, err := m.store.ReleaseLeases(ctx); err != nil {
		return fc, nil, err
	} else if n > 0 {
		log.Info("outbox: messages claimed before a crash are due again", "count", n)
	}
	if m.Config.ConfigFile != "" {
		if fc, err = LoadFileConfig(m.Config.ConfigFile); err != nil {
			return fc, nil, err
		}
	}
	return fc, phones, nil
}

// delivery is what the send pipeline and the APIs need of the delivery;
// its components (the SMPP connectors, the dispatcher and the webhook
// sender) are Main's.
type delivery struct {
	senders  pipeline.Senders // the routing table's approved senders; nil with the sandbox
	receiver *inbound.Receiver
	urls     webhook.Policy // which callback URLs may be dialled
}

// newDelivery makes the connectors (SMPP, or else the sandbox), the routes
// over them, the webhook sender, the dispatcher and the inbound receiver.
func (m *Main) newDelivery(fc FileConfig) (delivery, error) {
	var d delivery
	sink := &smppSink{}
	connectors, err := m.connectors(fc, sink)
	if err != nil {
		return d, err
	}
	if len(connectors) > 0 {
		sm := smpp.NewMetrics(m.registry)
		for _, c := range connectors {
			c.Instrument(sm)
		}
	}
	var route func(string) dispatch.Route
	if len(connectors) == 0 {
		if len(fc.Routes) > 0 {
			return d, errors.New("--config has routes but no connectors; add connectors to it (or --smpp)")
		}
		sb := sandbox.New(m.store, m.Clock, m.Logger)
		route = func(string) dispatch.Route { return dispatch.Route{Key: "", Connectors: []sms.Connector{sb}} }
		m.sandboxed = true
	} else if d.senders, route, err = routes(fc, connectors); err != nil {
		return d, err
	}
	if route, err = m.emailRoute(route); err != nil {
		return d, err
	}
	d.urls = webhook.Policy{AllowPrivate: m.Config.WebhookAllowPrivate}
	m.webhooks = webhook.NewSender(webhook.SenderConfig{Store: m.store, Tokens: m.keys, Policy: d.urls, Clock: m.Clock, Logger: m.Logger,
		FirstRetry: m.Config.CallbackRetry})
	m.webhooks.Register(m.registry)
	maxBacklog := m.Config.MaxBacklog
	if maxBacklog <= 0 {
		maxBacklog = -1
	}
	m.dispatcher = dispatch.New(dispatch.Config{Store: m.store, Opener: m.keys, Route: route, Clock: m.Clock, Logger: m.Logger,
		MaxBacklog: maxBacklog, Lease: m.Config.OutboxLease, AfterStatus: m.webhooks.Wake})
	m.dispatcher.Register(m.registry)
	inboundAccounts := map[string]string{}
	for _, in := range fc.Inbound {
		inboundAccounts[strings.TrimPrefix(in.To, "+")] = in.Account
	}
	d.receiver = &inbound.Receiver{Store: m.store, Log: m.Logger, Notify: m.webhooks.Wake,
		AccountFor: func(to string) string { return inboundAccounts[strings.TrimPrefix(to, "+")] }}
	sink.dispatcher, sink.inbound = m.dispatcher, d.receiver
	return d, nil
}

// sandboxEmailFrom is the sender of emails kept in the sandbox inbox when
// --smtp-from is not given.
const sandboxEmailFrom = "otpgate@sandbox.invalid"

// emailRoute routes email addresses to the SMTP relay of --smtp (a route
// of their own, "email"), or with sandbox delivery to the sandbox, and
// everything else as route does.
func (m *Main) emailRoute(route func(string) dispatch.Route) (func(string) dispatch.Route, error) {
	var email dispatch.Route
	var err error
	if m.smtp, _, err = smtpRelay(m.Config, m.Logger); err != nil {
		return nil, err
	}
	switch {
	case m.smtp != nil:
		m.emailFrom = m.smtp.From()
		email = dispatch.Route{Key: dispatch.EmailRoute, Connectors: []sms.Connector{m.smtp}}
	case m.sandboxed:
		m.emailFrom = sandboxEmailFrom
		email = route("")
		email.Key = dispatch.EmailRoute
	default:
		return route, nil // no email: the pipeline refuses it
	}
	return func(to string) dispatch.Route {
		if emailaddr.Looks(to) {
			return email
		}
		return route(to)
	}, nil
}

// smtpRelay reads --smtp and --smtp-from, as serve and doctor both do: the
// relay's connector and its settings, or no connector when --smtp is not
// set. The settings hold the relay's password, even beside an error.
func smtpRelay(c ServeConfig, logger *slog.Logger) (*mail.Connector, mail.Config, error) {
	if c.SMTP == "" {
		if c.SMTPFrom != "" {
			return nil, mail.Config{}, errors.New("--smtp-from is set but --smtp is not: give the relay (smtp://HOST:PORT) too")
		}
		return nil, mail.Config{}, nil
	}
	cfg, err := mail.ParseURL(c.SMTP, os.LookupEnv)
	if err != nil {
		return nil, cfg, fmt.Errorf("--smtp: %w", err)
	}
	if cfg.From = c.SMTPFrom; cfg.From == "" {
		return nil, cfg, errors.New("--smtp needs --smtp-from, the sender address of code emails (e.g. codes@example.com)")
	}
	conn, err := mail.New(cfg, logger)
	return conn, cfg, err
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

// guarding is how the send pipeline judges a send: its policies, limiters
// and observers, with the guard's components (nil with --abuse-guard=off;
// the pumping guard is Main's).
type guarding struct {
	policies  []pipeline.Policy
	limiters  []pipeline.Limiter
	observers []pipeline.Observer
	approved  func(context.Context, string, phone.Number, string) // tells the pumping guard of an approved code
	cooldown  time.Duration                                       // the resend cooldown
	forgetter *guard.Forgetter
	budget    *guard.Budget
}

// newGuard makes the ceilings of each account and the audit log, and
// (unless --abuse-guard=off) the rate limits, the SMS-pumping guard and the
// daily budgets. Every send is judged by its account's ceilings (the
// operator's policy for it over the defaults), and every change to them is
// audited.
func (m *Main) newGuard(phones *phone.Parser, fc FileConfig) guarding {
	log := m.Logger
	m.audit = audit.NewLog(m.store, log, m.Clock)
	m.ceilings = guard.NewCeilings(guard.CeilingsConfig{Defaults: m.defaultCeilings(phones.Region(), fc), Accounts: m.store, Clock: m.Clock})
	g := guarding{cooldown: m.Config.ResendCooldown, policies: []pipeline.Policy{
		guard.Geo{},
		pipeline.PolicyFunc(guard.MessagesAPI),
		pipeline.PolicyFunc(func(_ context.Context, s pipeline.Send) error { return m.dispatcher.Admit(s.Dest()) }),
	}}
	if m.Config.NoAbuseGuard {
		g.cooldown = 0
		log.Warn("the abuse guard is OFF (--abuse-guard=off): no rate limits, no daily budgets, no resend cooldown, no SMS-pumping guard; for load tests only, never in production")
		return g
	}
	g.limiters = append(g.limiters, guard.NewLimits(m.Config.Limits))
	g.forgetter = &guard.Forgetter{Store: m.store, Clock: m.Clock, Logger: log}
	pc := m.Config.Pumping
	pc.Store, pc.Services, pc.Clock, pc.Logger, pc.AfterEvent, pc.Audit = m.store, m.store, m.Clock, log, m.webhooks.Wake, m.audit
	m.pumping = guard.NewPumping(pc)
	m.pumping.Register(m.registry)
	g.budget = guard.NewBudget(guard.BudgetConfig{Store: m.store, Clock: m.Clock, Logger: log})
	g.policies = append(g.policies, g.budget, m.pumping)
	g.observers = append(g.observers, g.budget, m.pumping)
	g.approved = m.pumping.Approved
	return g
}

// services are the domains the APIs serve, on the one send pipeline.
type services struct {
	settings *verify.Services // every verification service's settings
	verify   *verify.Service
	messages *messaging.Service
}

// newServices makes the send pipeline and the verification and messaging
// services on it.
func (m *Main) newServices(phones *phone.Parser, d delivery, g guarding) (services, error) {
	sends, err := pipeline.New(pipeline.Config{
		Store: m.store, Delivery: m.dispatcher, Phones: phones, Sealer: m.keys, Senders: d.senders, Ceilings: m.ceilings, Callback: d.urls,
		Clock: m.Clock, Policies: g.policies, Limiters: g.limiters, Observers: g.observers, EmailFrom: m.emailFrom,
	})
	if err != nil {
		return services{}, err
	}
	settings, err := verify.NewServices(verify.ServicesConfig{Store: m.store, Clock: m.Clock, CodeLength: m.Config.CodeLength, TTL: m.Config.CodeTTL})
	if err != nil {
		return services{}, err
	}
	vs, err := verify.New(verify.Config{
		Store: m.store, Services: settings, SMS: sends, Keys: m.keys, Phones: phones, Clock: m.Clock,
		ResendCooldown: g.cooldown, AfterEvent: m.webhooks.Wake,
		Approved: g.approved, Metrics: verify.NewMetrics(m.registry), Audit: m.audit,
		Email: m.emailFrom != "", Logger: m.Logger,
	})
	if err != nil {
		return services{}, err
	}
	msgs := messaging.New(messaging.Config{Store: m.store, SMS: sends, Clock: m.Clock, AfterStatus: m.webhooks.Wake})
	return services{settings: settings, verify: vs, messages: msgs}, nil
}

// newAPI makes the HTTP handler of every API: the core (health, metrics
// behind --metrics-token, OpenAPI), 2FA and Verify v2, the guard's and the
// operator's routes, accounts, the console (--console), the SMS APIs, and
// the sandbox inbox where the sandbox delivers.
func (m *Main) newAPI(phones *phone.Parser, fc FileConfig, d delivery, svc services, auth *account.Authenticator) (*api.Server, error) {
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
	srv := api.New(api.Config{Auth: auth, Logger: m.Logger, Ready: m.store.Ping, Health: health, Metrics: api.NewMetrics(m.registry),
		Operators: m.store, Audit: m.audit, HSTS: m.Config.TLSCert != ""})
	if token := m.Config.MetricsToken; token != "" {
		srv.ServeMetrics(m.metrics, token)
	}
	m.api = srv
	openapi.Register(srv)
	admin := &guard.Admin{Store: m.store, Ceilings: m.ceilings, Pumping: pumping, Phones: phones, Audit: m.audit, Services: svc.settings}
	restcomm2fa.Register(srv, svc.verify)
	guardapi.Register(srv, admin, pumping != nil)
	operatorapi.Register(srv, admin, m.store)
	accountsapi.Register(srv, accountsapi.Config{Store: m.store, Keys: m.keys, Auth: auth, Audit: m.audit, Clock: m.Clock})
	verifyv2.Register(srv, verifyv2.Config{Store: m.store, Services: svc.settings, Verify: svc.verify,
		Sender: m.Config.VerifySender, URLs: d.urls, Audit: m.audit})
	verifyv2.RegisterFactors(srv, verifyv2.FactorsConfig{Store: m.store, Audit: m.audit,
		Factors: &factor.Service{Store: m.store, Keys: m.keys, Clock: m.Clock, Metrics: factor.NewMetrics(m.registry)}})
	if err := m.serveConsole(srv, phones, fc.Routes, admin); err != nil {
		return nil, err
	}
	twilio.Register(srv, twilio.Messages{Messages: svc.messages, Phones: phones})
	restcommsms.Register(srv, twilio.Messages{Messages: svc.messages, Phones: phones})
	if m.sandboxed {
		// The sandbox inbox exists only where the sandbox delivers.
		inbox.Register(srv, inbox.Inbox{Store: m.store, Phones: phones, Inbound: d.receiver, Messages: svc.messages, Clock: m.Clock})
	}
	return srv, nil
}

// announce logs that the server listens, where, and how it delivers.
func (m *Main) announce() {
	log := m.Logger
	delivery := "sandbox"
	if len(m.smpp) > 0 {
		delivery = "SMPP"
	}
	log.Info("otpgate listening", "addr", m.Addr(), "store", describeStore(m.Config.DB, m.Config.DataDir),
		"delivery", delivery, "data_dir", m.Config.DataDir, "version", version)
	if m.smtp != nil {
		log.Info("email: codes sent by email go through the SMTP relay", "relay", m.smtp.Relay(), "from", m.emailFrom)
	}
	if len(m.smpp) == 0 {
		log.Info("delivery: sandbox (no real connector configured); messages are kept in the sandbox inbox at GET /sandbox/messages?to=NUMBER")
		return
	}
	names := make([]string, len(m.smpp))
	for i, c := range m.smpp {
		names[i] = c.Name()
	}
	log.Info("delivery: SMPP, every destination to the first bound connector of its route; a real SMSC delivers to the phone, "+
		"and the message log hides codes; with otpgate smsc-sim as the SMSC, read what it took at its --http address",
		"connectors", strings.Join(names, ","), "smsc_sim_messages", "http://"+defaultSimHTTP+"/messages?to=NUMBER")
}
