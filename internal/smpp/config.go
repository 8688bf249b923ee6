// Package smpp is the connector that delivers through an operator's SMSC over
// SMPP 3.4. github.com/linxGnu/gosmpp keeps the sessions (bind, enquire_link,
// PDU framing); this package owns the rest: its own window of outstanding
// submit_sm per bind, the TPS limit, throttling, re-binding with backoff,
// encoding and splitting (internal/smsenc), addresses, and turning
// deliver_sm into receipts and inbound messages.
package smpp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// Config configures one connector (one SMSC account).
type Config struct {
	Name       string // shown in logs, routes and the message log
	Addr       string // host:port
	SystemID   string
	Password   string
	SystemType string
	Bind       string // "trx" (default): one transceiver bind; "txrx": a transmitter and a receiver
	Binds      int    // binds (or bind pairs) to keep up, default 1
	Window     int    // outstanding submit_sm per bind, default 50
	TPS        int    // submit_sm per second for the whole connector; 0 = unlimited
	// Source address TON/NPI: -1 (default) chooses by the sender: an
	// alphanumeric ID is TON 5 / NPI 0, a phone number TON 1 / NPI 1, a
	// short code TON 3 / NPI 0.
	SourceTON, SourceNPI int
	Split                string // long messages: "udh" (default), "sar" or "payload"
	EnquireLink          time.Duration
	ReadTimeout          time.Duration // no PDU read for this long: the link is dead
	ResponseTimeout      time.Duration // no submit_sm_resp for this long: the submit failed (transiently)
}

// Defaults.
const (
	DefaultWindow          = 50
	DefaultEnquireLink     = 15 * time.Second
	DefaultReadTimeout     = 45 * time.Second
	DefaultResponseTimeout = 20 * time.Second
	// MaxPendingDelivers is how many deliver_sm (receipts, inbound
	// messages) a connector stores at once before it stops reading more.
	MaxPendingDelivers = 4096
)

func (c *Config) setDefaults() {
	if c.Bind == "" {
		c.Bind = "trx"
	}
	if c.Binds == 0 {
		c.Binds = 1
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Split == "" {
		c.Split = "udh"
	}
	if c.EnquireLink == 0 {
		c.EnquireLink = DefaultEnquireLink
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = DefaultResponseTimeout
	}
}

// Validate checks c, naming the setting at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("address %q: want HOST:PORT", c.Addr))
	}
	if c.SystemID == "" || len(c.SystemID) > 15 {
		errs = append(errs, errors.New("system_id is required, at most 15 characters"))
	}
	if len(c.Password) > 8 {
		errs = append(errs, errors.New("password is at most 8 characters in SMPP 3.4"))
	}
	if c.Bind != "trx" && c.Bind != "txrx" {
		errs = append(errs, fmt.Errorf("bind %q: want trx or txrx", c.Bind))
	}
	if c.Binds < 1 || c.Binds > 32 {
		errs = append(errs, fmt.Errorf("binds %d: want 1-32", c.Binds))
	}
	if c.Window < 1 || c.Window > 1000 {
		errs = append(errs, fmt.Errorf("window %d: want 1-1000", c.Window))
	}
	if c.TPS < 0 {
		errs = append(errs, fmt.Errorf("tps %d: want 0 (unlimited) or more", c.TPS))
	}
	if c.SourceTON < -1 || c.SourceTON > 6 || c.SourceNPI < -1 || c.SourceNPI > 18 {
		errs = append(errs, errors.New("ton must be auto or 0-6, npi auto or 0-18"))
	}
	if c.Split != "udh" && c.Split != "sar" && c.Split != "payload" {
		errs = append(errs, fmt.Errorf("split %q: want udh, sar or payload", c.Split))
	}
	if c.ReadTimeout <= c.EnquireLink {
		errs = append(errs, errors.New("read_timeout must be longer than enquire_link"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("smpp connector %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

// ParseURL reads a connector from
// smpp://SYSTEM_ID:PASSWORD@HOST:PORT?name=zain&bind=trx&window=50&tps=100&system_type=&ton=auto&npi=auto&binds=1&split=udh.
// A password of the form $NAME is read from the environment variable NAME
// with lookupEnv (os.LookupEnv): a variable that is not set, or is empty,
// is an error that names it, not an empty password. A nil lookupEnv
// leaves the password as written. Errors do not say where the URL came
// from (--smpp, a config file's connector): the caller does.
func ParseURL(s string, lookupEnv func(string) (string, bool)) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, errors.New(redact(err.Error()))
	}
	if u.Scheme != "smpp" {
		return Config{}, fmt.Errorf("scheme %q: want smpp://SYSTEM_ID:PASSWORD@HOST:PORT?name=NAME", u.Scheme)
	}
	c := Config{Addr: u.Host, SystemID: u.User.Username(), SourceTON: -1, SourceNPI: -1}
	c.Password, _ = u.User.Password()
	if c.Password, err = otpgate.EnvPassword(c.Password, lookupEnv); err != nil {
		return Config{}, err
	}
	q := u.Query()
	for key, vals := range q {
		v := vals[0]
		var err error
		switch key {
		case "name":
			c.Name = v
		case "bind":
			c.Bind = v
		case "binds":
			c.Binds, err = strconv.Atoi(v)
		case "window":
			c.Window, err = strconv.Atoi(v)
		case "tps":
			c.TPS, err = strconv.Atoi(v)
		case "system_type":
			c.SystemType = v
		case "ton":
			c.SourceTON, err = autoInt(v)
		case "npi":
			c.SourceNPI, err = autoInt(v)
		case "split":
			c.Split = v
		case "enquire_link":
			c.EnquireLink, err = time.ParseDuration(v)
		case "read_timeout":
			c.ReadTimeout, err = time.ParseDuration(v)
		case "response_timeout":
			c.ResponseTimeout, err = time.ParseDuration(v)
		default:
			return Config{}, fmt.Errorf("unknown parameter %q (known: name, bind, binds, window, tps, system_type, ton, npi, split, enquire_link, read_timeout, response_timeout)", key)
		}
		if err != nil {
			return Config{}, fmt.Errorf("parameter %s=%q: %v", key, v, err)
		}
	}
	if c.Name == "" {
		c.Name = u.Hostname()
	}
	c.setDefaults()
	return c, c.Validate()
}

func autoInt(v string) (int, error) {
	if v == "" || v == "auto" {
		return -1, nil
	}
	return strconv.Atoi(v)
}

// redact removes a URL's password from an error text.
func redact(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "@"); j >= 0 {
			return s[:i+3] + "***" + s[i+3+j:]
		}
	}
	return s
}
