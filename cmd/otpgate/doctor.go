package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/sqlite"
)

const doctorUsage = `Usage: otpgate doctor [--config FILE] [--smpp URL]... [--timeout 10s] [serve's flags]

Checks what otpgate serve would run with, and says in words what is wrong:
serve's flags and --config FILE; each SMPP connector, bound once as serve
binds it (bind_transceiver, or a transmitter and a receiver for bind=txrx)
and unbound again, no message sent; the data directory, or the --db
database, reachable and writable (nothing is migrated or changed); the server
secret; the TLS certificate; --addr. It takes every flag serve takes, from
the command line or the same OTPGATE_* environment, so run it with the
service's environment and user. Passwords are never printed.

It exits 0 when every check passed (warnings do not count), 2 otherwise.
An SMSC may refuse the extra bind while otpgate serve holds the account's
binds.

Flags (doctor's own):
`

// finding is one line of the doctor's report.
type finding struct {
	level string // "ok", "warn" or "FAIL"
	text  string
}

func ok(format string, a ...any) finding   { return finding{"ok", fmt.Sprintf(format, a...)} }
func warn(format string, a ...any) finding { return finding{"warn", fmt.Sprintf(format, a...)} }
func fail(format string, a ...any) finding { return finding{"FAIL", fmt.Sprintf(format, a...)} }

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate doctor", flag.ContinueOnError)
	var cfg ServeConfig
	cfg.flags(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for each connection, bind and database")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), doctorUsage)
		printFlags(fs.Output(), fs, "timeout")
		fmt.Fprint(fs.Output(), "\nEvery flag of otpgate serve is also taken (see otpgate serve --help).\n")
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *timeout <= 0 {
		return errors.New("--timeout must be more than 0")
	}
	d := &doctor{cfg: cfg, timeout: *timeout}
	out := &redactor{w: stdout}
	groups := d.run(ctx)
	failed, warned, total := 0, 0, 0
	for _, g := range groups {
		for _, f := range g {
			total++
			switch f.level {
			case "FAIL":
				failed++
			case "warn":
				warned++
			}
			out.secrets = d.secrets
			fmt.Fprintf(out, "%-4s  %s\n", f.level, f.text)
		}
	}
	plural := func(n int, s string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, s)
		}
		return fmt.Sprintf("%d %ss", n, s)
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d of %s failed", failed, plural(total, "check"))
	}
	if warned > 0 {
		fmt.Fprintf(stdout, "All %s passed, with %s.\n", plural(total, "check"), plural(warned, "warning"))
	} else {
		fmt.Fprintf(stdout, "All %s passed.\n", plural(total, "check"))
	}
	return nil
}

type doctor struct {
	cfg     ServeConfig
	timeout time.Duration
	secrets []string // passwords met on the way, never to be printed
}

// run makes every check, the slow ones (connectors, the database) at once,
// and returns their findings in a fixed order.
func (d *doctor) run(ctx context.Context) [][]finding {
	var groups [][]finding
	settings := d.settings()
	groups = append(groups, settings)
	conns, conf := d.config()
	groups = append(groups, conf)
	slow := make([][]finding, len(conns)+1)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { slow[i] = []finding{d.connector(ctx, c)} })
	}
	wg.Go(func() { slow[len(conns)] = d.storage(ctx) })
	wg.Wait()
	groups = append(groups, slow...)
	groups = append(groups, d.email(ctx), d.secret(), d.secretMatches(ctx), d.secretApart(), d.tls(), d.addr(settings))
	return groups
}

// email checks --smtp and --smtp-from as serve reads them, and connects to
// the relay as a send does (STARTTLS or TLS, AUTH) without sending.
func (d *doctor) email(ctx context.Context) []finding {
	c, cfg, err := smtpRelay(d.cfg, nil)
	if cfg.Password != "" {
		d.secrets = append(d.secrets, cfg.Password)
	}
	if err != nil {
		return []finding{fail("email: %v", err)}
	}
	if c == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if err := c.Probe(pctx); err != nil {
		return []finding{fail("email: %v", err)}
	}
	how := "STARTTLS"
	if cfg.SSL {
		how = "TLS"
	} else if cfg.Opportunistic {
		how = "STARTTLS if offered (tls=opportunistic)"
	}
	auth := ""
	if cfg.Username != "" {
		auth = ", AUTH as " + cfg.Username
	}
	return []finding{ok("email: relay %s answers (%s%s); codes go from %s", cfg.Redacted(), how, auth, d.cfg.SMTPFrom)}
}

// settings checks serve's flags as serve does.
func (d *doctor) settings() []finding {
	if err := d.cfg.Validate(); err != nil {
		return []finding{fail("flags: %v", err)}
	}
	if _, err := phone.NewParser(d.cfg.Region); err != nil {
		return []finding{fail("flags: --region: %v", err)}
	}
	return []finding{ok("flags: valid")}
}

// probeTarget is a connector to bind, or why it cannot be.
type probeTarget struct {
	name string
	cfg  smpp.Config
	err  string // set: not probed
}

// config reads --config and the connectors of --smpp and the file, as serve
// does, and names every setting at fault.
func (d *doctor) config() ([]probeTarget, []finding) {
	var fc FileConfig
	var out []finding
	if d.cfg.ConfigFile != "" {
		var err error
		if fc, err = LoadFileConfig(d.cfg.ConfigFile); err != nil {
			return nil, []finding{fail("config: %v", err)}
		}
	}
	type raw struct{ name, url string }
	var urls []raw
	for _, u := range d.cfg.SMPP {
		urls = append(urls, raw{"", u})
	}
	for _, c := range fc.Connectors {
		urls = append(urls, raw{c.Name, c.URL})
	}
	var targets []probeTarget
	var names []string
	seen := map[string]bool{}
	for i, r := range urls {
		t := probeTarget{name: r.name}
		if t.name == "" {
			t.name = fmt.Sprintf("--smpp %d", i+1)
		}
		if pw, env := urlPassword(r.url); env != "" {
			v, set := os.LookupEnv(env)
			switch {
			case !set:
				t.err = fmt.Sprintf("its password is $%s, and the environment variable %s is not set (serve refuses to start)", env, env)
			case v == "":
				t.err = fmt.Sprintf("its password is $%s, and the environment variable %s is empty (serve refuses to start)", env, env)
			default:
				d.secrets = append(d.secrets, v)
			}
		} else if pw != "" {
			d.secrets = append(d.secrets, pw)
		}
		c, err := smpp.ParseURL(r.url, os.LookupEnv)
		if err != nil {
			targets = append(targets, probeTarget{name: t.name, err: cmp.Or(t.err, err.Error())})
			continue
		}
		if r.name != "" {
			c.Name = r.name
		}
		t.name, t.cfg = c.Name, c
		if seen[c.Name] {
			t.err = fmt.Sprintf("two connectors are named %q; give each its own name", c.Name)
		}
		seen[c.Name] = true
		names = append(names, c.Name)
		targets = append(targets, t)
	}
	what := "no --config file"
	if d.cfg.ConfigFile != "" {
		what = fmt.Sprintf("config %s: %d connectors, %d routes, %d inbound addresses", d.cfg.ConfigFile, len(fc.Connectors), len(fc.Routes), len(fc.Inbound))
	}
	switch {
	case len(urls) == 0 && len(fc.Routes) > 0:
		return nil, []finding{fail("%s: it has routes but no connectors; add connectors to it (or --smpp)", what)}
	case len(urls) == 0:
		out = append(out, ok("%s", what), warn("delivery: the sandbox: no SMPP connector is configured (--smpp or --config), so messages go to the sandbox inbox, not to phones"))
	default:
		if _, err := routing.New(fc.Routes, names); err != nil {
			return targets, []finding{fail("%s: %v", what, err)}
		}
		out = append(out, ok("%s", what))
	}
	return targets, out
}

// urlPassword returns an smpp:// URL's password, or the variable it names
// when written $NAME.
func urlPassword(s string) (pw, env string) {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return "", ""
	}
	pw, _ = u.User.Password()
	if strings.HasPrefix(pw, "$") && len(pw) > 1 {
		return "", pw[1:]
	}
	return pw, ""
}

// connector binds once and unbinds.
func (d *doctor) connector(ctx context.Context, t probeTarget) finding {
	if t.err != "" {
		return fail("connector %s: %s", t.name, t.err)
	}
	res, err := smpp.Probe(ctx, t.cfg, d.timeout)
	if err != nil {
		return fail("connector %s: %v", t.name, err)
	}
	took := make([]string, len(res.Took))
	for i, dur := range res.Took {
		took[i] = millis(dur)
	}
	text := fmt.Sprintf("connector %s: bound to %s as system_id %s (%s) in %s", t.name, t.cfg.Addr, t.cfg.SystemID,
		strings.Join(res.Binds, " and "), strings.Join(took, " and "))
	if !res.Unbound {
		return warn("%s; unbinding: %s", text, res.UnbindOf)
	}
	return ok("%s; unbound", text)
}

func millis(d time.Duration) string {
	if d < time.Millisecond {
		return "under 1 ms"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// storage checks the data directory, and the database: the embedded SQLite
// file, or PostgreSQL.
func (d *doctor) storage(ctx context.Context) []finding {
	out := []finding{d.dataDir(d.cfg.DataDir, "data directory")}
	db := d.cfg.DB
	if isPostgres(db) {
		expanded, err := expandPassword("--db", db)
		if err != nil {
			return append(out, fail("database: %v", err))
		}
		if u, err := url.Parse(expanded); err == nil && u.User != nil {
			if pw, has := u.User.Password(); has && pw != "" {
				d.secrets = append(d.secrets, pw)
			}
		}
		in, err := postgres.Inspect(ctx, expanded, d.timeout)
		if err != nil {
			return append(out, fail("database: %v", err))
		}
		return append(out, ok("database: PostgreSQL %s at %s: reachable and writable; %s", in.ServerVersion, in.Where, schemaWords(in.Version, in.Known, true)))
	}
	path := filepath.Join(d.cfg.DataDir, "otpgate.db")
	if db != "" {
		var err error
		if path, err = sqlitePath(db, d.cfg.DataDir); err != nil {
			return append(out, fail("database: %v", err))
		}
		if dir := filepath.Dir(path); filepath.Clean(dir) != filepath.Clean(d.cfg.DataDir) {
			out = append(out, d.dataDir(dir, "the database's directory"))
		}
	}
	if out[len(out)-1].level == "FAIL" {
		return out
	}
	in, err := sqlite.Inspect(ctx, path)
	switch {
	case err != nil:
		return append(out, fail("database: SQLite %s: %v", path, err))
	case !in.Exists:
		return append(out, ok("database: SQLite %s does not exist yet; serve creates it", path))
	}
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err != nil {
		return append(out, fail("database: SQLite %s cannot be opened for writing: %v", path, errText(err)))
	} else {
		f.Close()
	}
	return append(out, ok("database: SQLite %s: writable; %s", path, schemaWords(in.Version, in.Known, false)))
}

func schemaWords(have, known int, shared bool) string {
	switch {
	case have == 0:
		return fmt.Sprintf("no schema yet (serve creates it, version %d)", known)
	case have < known:
		return fmt.Sprintf("schema version %d; serve migrates it to %d when it starts", have, known)
	case have > known:
		s := fmt.Sprintf("schema version %d is NEWER than this otpgate knows (%d): serve refuses it; run the newer otpgate", have, known)
		if shared {
			s += " (another node was upgraded first)"
		}
		return s
	}
	return fmt.Sprintf("schema version %d, current", have)
}

// dataDir checks that dir exists and this user can write there (or can
// create it), and says whether a running serve holds it.
func (d *doctor) dataDir(dir, what string) finding {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		parent := filepath.Dir(filepath.Clean(dir))
		for {
			if _, err := os.Stat(parent); err == nil || filepath.Dir(parent) == parent {
				break
			}
			parent = filepath.Dir(parent)
		}
		if err := writable(parent); err != nil {
			return fail("%s %s does not exist, and it cannot be created in %s: %v", what, dir, parent, errText(err))
		}
		return ok("%s %s does not exist yet; serve creates it (mode 0700)", what, dir)
	}
	if err != nil {
		return fail("%s %s: %v", what, dir, errText(err))
	}
	if !st.IsDir() {
		return fail("%s %s is not a directory", what, dir)
	}
	if err := writable(dir); err != nil {
		return fail("%s %s is not writable by this user (uid %d): %v", what, dir, os.Getuid(), errText(err))
	}
	text := fmt.Sprintf("%s %s: writable", what, dir)
	var fs syscall.Statfs_t
	if syscall.Statfs(dir, &fs) == nil {
		free := fs.Bavail * uint64(fs.Bsize)
		text += fmt.Sprintf(", %s free", bytesWords(free))
		if free < 256<<20 {
			return warn("%s: little room left (SQLite answers 503 when the disk is full)", text)
		}
	}
	if f, err := os.OpenFile(filepath.Join(dir, "otpgate.lock"), os.O_RDWR, 0); err == nil {
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			text += "; a running otpgate serve holds it"
		}
		f.Close()
	}
	return ok("%s", text)
}

// writable creates and removes a file in dir.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".otpgate-doctor-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// errText is an error without the path os errors repeat.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func bytesWords(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// secret checks the server secret serve would use.
func (d *doctor) secret() []finding {
	file, given := d.cfg.SecretFile, d.cfg.SecretFile != ""
	if !given {
		file = filepath.Join(d.cfg.DataDir, "secret")
	}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) && !given {
		if d.cfg.DB == "" {
			if _, err := os.Stat(filepath.Join(d.cfg.DataDir, "otpgate.db")); err == nil {
				return []finding{fail("secret: %s is missing, but the database exists: its codes, sealed bodies and tokens need the secret it was made with; restore it (a new one is made only for a new database)", file)}
			}
		}
		if isPostgres(d.cfg.DB) {
			return []finding{warn("secret: %s does not exist yet; serve creates one, but nodes sharing a database need the same secret: give each --secret-file", file)}
		}
		return []finding{ok("secret: %s does not exist yet; serve creates it (mode 0600)", file)}
	}
	if _, err := loadSecret(file, d.cfg.DataDir); err != nil {
		return []finding{fail("secret: %v", err)}
	}
	if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
		return []finding{warn("secret: %s is readable by others (mode %04o): chmod 600 it", file, st.Mode().Perm())}
	}
	return []finding{ok("secret: %s: readable, well formed", file)}
}

// secretApart warns when the server secret sits inside the data directory:
// a copy of the directory then carries the key with the data it protects.
// That the secret is missing, or readable by group or others, is secret's
// to say.
func (d *doctor) secretApart() []finding {
	file := d.cfg.SecretFile
	if file == "" {
		file = filepath.Join(d.cfg.DataDir, "secret")
	}
	if _, err := os.Stat(file); err != nil || !inside(file, d.cfg.DataDir) {
		return nil
	}
	return []finding{warn("secret: %s is inside the data directory %s: a copy or snapshot of the directory (tar, rsync, a volume snapshot) "+
		"carries the key with the data it protects (otpgate backup copies only the database). Keep the secret apart: "+
		"e.g. /etc/otpgate/secret (mode 0600, owned by otpgate's user) and serve --secret-file /etc/otpgate/secret",
		file, d.cfg.DataDir)}
}

// inside reports whether file is in dir or below it, symbolic links followed.
func inside(file, dir string) bool {
	abs := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		} else if r, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			p = filepath.Join(r, filepath.Base(p))
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		return a
	}
	rel, err := filepath.Rel(abs(dir), abs(file))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// tls checks --tls-cert and --tls-key.
func (d *doctor) tls() []finding {
	if d.cfg.TLSCert == "" || d.cfg.TLSKey == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(d.cfg.TLSCert, d.cfg.TLSKey)
	if err != nil {
		return []finding{fail("tls: --tls-cert %s, --tls-key %s: %v", d.cfg.TLSCert, d.cfg.TLSKey, err)}
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return []finding{fail("tls: --tls-cert %s: %v", d.cfg.TLSCert, err)}
	}
	names := strings.Join(leaf.DNSNames, ", ")
	if names == "" {
		names = leaf.Subject.CommonName
	}
	left := time.Until(leaf.NotAfter)
	switch {
	case left <= 0:
		return []finding{fail("tls: the certificate for %s expired on %s", names, leaf.NotAfter.UTC().Format(time.DateOnly))}
	case left < 14*24*time.Hour:
		return []finding{warn("tls: the certificate for %s expires on %s, in %d days: renew it, then send serve SIGHUP", names, leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))}
	}
	return []finding{ok("tls: certificate for %s, valid until %s", names, leaf.NotAfter.UTC().Format(time.DateOnly))}
}

// addr checks that serve could listen on --addr.
func (d *doctor) addr(settings []finding) []finding {
	if settings[0].level == "FAIL" {
		return nil
	}
	l, err := net.Listen("tcp", d.cfg.Addr)
	switch {
	case err == nil:
		l.Close()
		return []finding{ok("addr: %s is free to listen on", d.cfg.Addr)}
	case errors.Is(err, syscall.EADDRINUSE):
		return []finding{warn("addr: %s is in use (by a running otpgate serve, or another program)", d.cfg.Addr)}
	case errors.Is(err, syscall.EACCES):
		return []finding{fail("addr: %s: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE; or use a higher port behind a proxy)", d.cfg.Addr)}
	}
	return []finding{fail("addr: %s: %v", d.cfg.Addr, err)}
}

// redactor replaces each secret in what it writes: the report names no
// password even if some error text carried one.
type redactor struct {
	w       io.Writer
	secrets []string
}

func (r *redactor) Write(p []byte) (int, error) {
	s := string(p)
	for _, sec := range r.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	_, err := io.WriteString(r.w, s)
	return len(p), err
}
