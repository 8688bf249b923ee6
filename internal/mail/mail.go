// Package mail is the SMTP connector: it hands a code email to a relay
// (github.com/wneessen/go-mail writes the MIME message and speaks SMTP):
// STARTTLS required (smtp://; ?tls=opportunistic allows clear text) or TLS from the start
// (smtps://), AUTH PLAIN or LOGIN with the URL's user and password. A relay
// that is unreachable or answers 4xx is a transient failure (the dispatcher
// retries); a 5xx answer to RCPT TO or to the message is permanent. The
// password never leaves Config: not in errors, logs or Redacted.
package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/sms"
)

var _ sms.Connector = (*Connector)(nil)

// Config is a relay and how to reach it.
type Config struct {
	Name string // the connector's name in the message log; default "smtp"
	Host string
	Port int  // default 587 for smtp://, 465 for smtps://
	SSL  bool // smtps://: TLS from the start; else STARTTLS
	// Opportunistic (?tls=opportunistic) sends in clear text to a relay
	// that offers no STARTTLS; by default a relay without it is refused,
	// so that nobody between otpgate and the relay can strip STARTTLS and
	// read the codes.
	Opportunistic bool
	Username      string
	Password      string
	Auth          string // "plain" (default) or "login"; unused without a user
	// CAFile, when set, is the PEM file of the CAs the relay's certificate
	// is checked against, instead of the system's.
	CAFile  string
	Timeout time.Duration // per connection and command; default 30s
	// Conns is how many emails are sent at once, over as many connections
	// kept open between emails; default 4.
	Conns int
	From  string // the sender address (--smtp-from)
}

// Accepted says what --smtp takes, for errors.
const Accepted = "smtp://[USER[:PASSWORD]@]HOST[:PORT] (STARTTLS required; ?tls=opportunistic to send in clear text to a relay without it) or smtps://... (TLS from the start), with optional ?auth=plain|login&ca=FILE&timeout=30s&conns=4&name=NAME; a PASSWORD written $NAME is read from the environment variable NAME"

// ParseURL reads a relay's URL. A password written $NAME is read with
// lookupEnv (os.LookupEnv): a variable that is not set, or is empty, is an
// error naming it.
func ParseURL(s string, lookupEnv func(string) (string, bool)) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("it is not a URL; want %s", Accepted)
	}
	c := Config{Host: u.Hostname(), Name: "smtp", Auth: "plain", Timeout: 30 * time.Second, Conns: 4}
	switch u.Scheme {
	case "smtp":
		c.Port = 587
	case "smtps":
		c.Port, c.SSL = 465, true
	default:
		return Config{}, fmt.Errorf("scheme %q: want %s", u.Scheme, Accepted)
	}
	if c.Host == "" {
		return Config{}, fmt.Errorf("no host; want %s", Accepted)
	}
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil || c.Port < 1 || c.Port > 65535 {
			return Config{}, fmt.Errorf("port %q: want 1-65535", p)
		}
	}
	c.Username = u.User.Username()
	c.Password, _ = u.User.Password()
	if c.Password, err = otpgate.EnvPassword(c.Password, lookupEnv); err != nil {
		return Config{}, err
	}
	for key, vals := range u.Query() {
		v := vals[0]
		switch key {
		case "auth":
			c.Auth = strings.ToLower(v)
			if c.Auth != "plain" && c.Auth != "login" {
				return Config{}, fmt.Errorf("parameter auth=%q: plain or login", v)
			}
		case "ca":
			c.CAFile = v
		case "timeout":
			if c.Timeout, err = time.ParseDuration(v); err != nil || c.Timeout <= 0 {
				return Config{}, fmt.Errorf("parameter timeout=%q: a duration such as 30s", v)
			}
		case "conns":
			if c.Conns, err = strconv.Atoi(v); err != nil || c.Conns < 1 || c.Conns > 64 {
				return Config{}, fmt.Errorf("parameter conns=%q: 1-64", v)
			}
		case "name":
			c.Name = v
		case "tls":
			switch strings.ToLower(v) {
			case "required":
			case "opportunistic":
				c.Opportunistic = true
			default:
				return Config{}, fmt.Errorf("parameter tls=%q: required (the default: STARTTLS or no email) or opportunistic (clear text to a relay without STARTTLS)", v)
			}
		default:
			return Config{}, fmt.Errorf("unknown parameter %q (known: auth, ca, timeout, conns, name, tls)", key)
		}
	}
	return c, nil
}

// Redacted is the relay's URL without its password, for logs.
func (c Config) Redacted() string {
	scheme := "smtp"
	if c.SSL {
		scheme = "smtps"
	}
	user := ""
	if c.Username != "" {
		user = url.User(c.Username).String() + ":***@"
	}
	return scheme + "://" + user + net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Connector sends code emails through one relay.
type Connector struct {
	cfg  Config
	from string
	tls  *tls.Config
	// sessions are the Conns connections to the relay, each kept open
	// from one email to the next (a TLS handshake and AUTH per email
	// would cap a relay at tens of emails a second); one not dialled
	// yet, or hung up after an error, has no client.
	sessions chan *session
	logger   *slog.Logger
}

// session is one connection to the relay.
type session struct{ client *gomail.Client }

// New returns a connector for cfg; cfg.From must be a bare address.
func New(cfg Config, logger *slog.Logger) (*Connector, error) {
	from, err := emailaddr.Parse(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("--smtp-from %q: %v; it takes %s", cfg.From, err, emailaddr.Accepted)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--smtp ca: %s holds no PEM certificate", cfg.CAFile)
		}
	}
	if cfg.Conns < 1 {
		cfg.Conns = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Name == "" {
		cfg.Name = "smtp"
	}
	c := &Connector{cfg: cfg, from: from, tls: tc, sessions: make(chan *session, cfg.Conns), logger: logger}
	for range cfg.Conns {
		c.sessions <- &session{}
	}
	return c, nil
}

// Name is the connector's name.
func (c *Connector) Name() string { return c.cfg.Name }

// Relay is the relay's URL without its password, for logs.
func (c *Connector) Relay() string { return c.cfg.Redacted() }

// From is the sender address, as emails carry it.
func (c *Connector) From() string { return c.from }

// Send hands m to the relay and returns its Message-ID.
func (c *Connector) Send(ctx context.Context, m sms.Message) (string, error) {
	if m.Channel != message.Email {
		return "", sms.Permanent(0, fmt.Errorf("the SMTP connector sends email, not %s", m.Channel.Or()))
	}
	msg := gomail.NewMsg()
	if err := msg.From(c.from); err != nil {
		return "", sms.Permanent(0, fmt.Errorf("the sender address: %v", err))
	}
	if err := msg.To(m.To); err != nil {
		return "", sms.Permanent(0, fmt.Errorf("the address %s: %v", emailaddr.Mask(m.To), err))
	}
	id := m.SID + "@" + emailaddr.Domain(c.from)
	msg.SetMessageIDWithValue(id)
	msg.SetDate()
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	var s *session
	select {
	case s = <-c.sessions:
		defer func() { c.sessions <- s }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if err := c.send(ctx, s, msg); err != nil {
		if _, perm := sms.IsPermanent(err); perm {
			return "", err
		}
		return "", c.classify(m.To, err)
	}
	return "<" + id + ">", nil
}

// send sends msg on s, dialling it first if it has no connection. A
// connection kept from an earlier email that the relay has since closed
// (relays hang up idle clients) is dialled again, once. After any other
// error s is hung up, so the next email starts on a new connection.
func (c *Connector) send(ctx context.Context, s *session, msg *gomail.Msg) error {
	reused := s.client != nil
	if !reused {
		if err := c.dial(ctx, s); err != nil {
			return err
		}
	}
	err := s.client.Send(msg)
	if err != nil && reused && connLost(err) {
		c.hangUp(s)
		if err = c.dial(ctx, s); err != nil {
			return err
		}
		err = s.client.Send(msg)
	}
	if err != nil {
		c.hangUp(s)
	}
	return err
}

// connLost reports whether err is go-mail's finding, before sending, that
// the connection no longer answers (its NOOP failed).
func connLost(err error) bool {
	se, ok := errors.AsType[*gomail.SendError](err)
	return ok && se.Reason == gomail.ErrConnCheck
}

func (c *Connector) dial(ctx context.Context, s *session) error {
	client, err := c.client()
	if err != nil {
		return sms.Permanent(0, err)
	}
	if err := client.DialWithContext(ctx); err != nil {
		return err
	}
	s.client = client
	return nil
}

// hangUp closes s's connection (QUIT, best effort).
func (c *Connector) hangUp(s *session) {
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
}

// Close hangs up the connections kept open, waiting for emails being sent.
func (c *Connector) Close() error {
	for range c.cfg.Conns {
		s := <-c.sessions
		c.hangUp(s)
		defer func() { c.sessions <- s }()
	}
	return nil
}

// Probe connects to the relay as a send does (TLS, AUTH) and leaves
// without sending: what otpgate doctor checks. Its error never holds the
// password.
func (c *Connector) Probe(ctx context.Context) error {
	client, err := c.client()
	if err != nil {
		return err
	}
	if err := client.DialWithContext(ctx); err != nil {
		return c.classify("", err)
	}
	return client.Close()
}

func (c *Connector) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(c.cfg.Port), gomail.WithTimeout(c.cfg.Timeout), gomail.WithTLSConfig(c.tls)}
	if c.cfg.SSL {
		opts = append(opts, gomail.WithSSL())
	} else {
		policy := gomail.TLSMandatory
		if c.cfg.Opportunistic {
			policy = gomail.TLSOpportunistic
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	}
	if c.cfg.Username != "" {
		auth := gomail.SMTPAuthPlain
		if c.cfg.Auth == "login" {
			auth = gomail.SMTPAuthLogin
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(c.cfg.Username), gomail.WithPassword(c.cfg.Password))
	}
	client, err := gomail.NewClient(c.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP relay %s: %v", c.cfg.Redacted(), err)
	}
	return client, nil
}

// classify words a failed send, the address masked in it: permanent for a
// 5xx answer to RCPT TO or to the message, else transient.
func (c *Connector) classify(to string, err error) error {
	text := err.Error()
	if to != "" {
		// Relays quote an address in their own case (<JO@EXAMPLE.COM>):
		// masked whatever its case.
		text = regexp.MustCompile(`(?i)`+regexp.QuoteMeta(to)).ReplaceAllLiteralString(text, emailaddr.Mask(to))
	}
	if c.cfg.Password != "" {
		text = strings.ReplaceAll(text, c.cfg.Password, "***")
	}
	werr := fmt.Errorf("SMTP relay %s: %s", c.cfg.Redacted(), text)
	if se, ok := errors.AsType[*gomail.SendError](err); ok && !se.IsTemp() && se.ErrorCode() >= 500 &&
		(se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPDataClose || se.Reason == gomail.ErrSMTPData) {
		return sms.Permanent(se.ErrorCode(), werr)
	}
	return werr
}
