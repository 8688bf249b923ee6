// Package smtptest runs an independent SMTP relay for tests: aiosmtpd
// (Debian's python3-aiosmtpd 1.4.3) with the handler in relay.py, which
// writes every message it accepts to a directory. It can offer STARTTLS or
// TLS from the start with a certificate it makes for 127.0.0.1, require
// AUTH, be stopped and started again on the same port, and refuses
// recipients whose address starts "reject" (550) or "later" (451).
//
// It needs /usr/bin/python3 with aiosmtpd:
//
//	apt-get install -y python3-aiosmtpd
//
// Without it Start skips the test, unless the environment variable CI is
// set: then it fails it, so that CI always runs these tests.
package smtptest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/syncbuf"
)

//go:embed relay.py
var script []byte

// Python is the interpreter that has Debian's aiosmtpd.
const Python = "/usr/bin/python3"

// InstallHint is how to install the relay's peer.
const InstallHint = "apt-get install -y python3-aiosmtpd"

// Options configures a relay.
type Options struct {
	TLS         bool // offer STARTTLS (or, with Implicit, TLS from the start)
	Implicit    bool // smtps: TLS from the first byte
	User, Pass  string
	StartTimout time.Duration // default 15s
}

// Relay is a running aiosmtpd.
type Relay struct {
	t      testing.TB
	opts   Options
	Port   int
	Dir    string // where messages land
	CAFile string // the PEM of the relay's certificate (its own CA), with TLS
	cert   string
	key    string
	script string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  interface{ Close() error }
	stderr *syncbuf.Buffer
}

// Message is one message the relay accepted.
type Message struct {
	Name     string // its file's name, without extension
	MailFrom string
	RcptTos  []string
	TLS      bool   // it came over TLS
	Auth     bool   // the client authenticated
	Peer     string // the client's address and port: one per connection
	Raw      []byte
	Parsed   *mail.Message
}

// Available reports whether the peer can run here.
func Available() bool {
	return exec.Command(Python, "-c", "import aiosmtpd").Run() == nil
}

// Start runs a relay on a free loopback port; it stops with the test.
func Start(t testing.TB, opts Options) *Relay {
	t.Helper()
	if !Available() {
		if os.Getenv("CI") != "" {
			t.Fatalf("smtptest: %s has no aiosmtpd; %s", Python, InstallHint)
		}
		t.Skipf("smtptest: %s has no aiosmtpd; %s", Python, InstallHint)
	}
	dir := t.TempDir()
	r := &Relay{t: t, opts: opts, Dir: filepath.Join(dir, "mail"), script: filepath.Join(dir, "relay.py")}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.script, script, 0o600); err != nil {
		t.Fatal(err)
	}
	if opts.TLS {
		r.CAFile, r.cert, r.key = makeCert(t, dir)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	r.Restart()
	t.Cleanup(r.Stop)
	return r
}

// Addr is the relay's host:port.
func (r *Relay) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// Restart starts the relay (again, on the same port) if it is stopped.
func (r *Relay) Restart() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	args := []string{r.script, "--port", strconv.Itoa(r.Port), "--dir", r.Dir}
	if r.opts.TLS {
		args = append(args, "--cert", r.cert, "--key", r.key)
		if r.opts.Implicit {
			args = append(args, "--implicit-tls")
		}
	}
	if r.opts.User != "" {
		args = append(args, "--user", r.opts.User, "--password", r.opts.Pass)
	}
	timeout := r.opts.StartTimout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		cmd := exec.Command(Python, args...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			r.t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			r.t.Fatal(err)
		}
		stderr := &syncbuf.Buffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			r.t.Fatalf("smtptest: %v", err)
		}
		ready := make(chan bool, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			ready <- strings.TrimSpace(line) == "READY"
		}()
		select {
		case ok := <-ready:
			if ok {
				r.cmd, r.stdin, r.stderr = cmd, stdin, stderr
				return
			}
		case <-time.After(time.Until(deadline)):
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// The port may still be held by the relay just stopped: try again.
		if time.Now().After(deadline) {
			r.t.Fatalf("smtptest: the relay did not start on port %d: %s", r.Port, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the relay, dropping its connections; messages it accepted
// stay in Dir. Safe to call twice.
func (r *Relay) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Messages returns the messages accepted so far, in the order written.
func (r *Relay) Messages() []Message {
	r.t.Helper()
	names, err := filepath.Glob(filepath.Join(r.Dir, "*.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	slices.Sort(names)
	var out []Message
	for _, name := range names {
		base := strings.TrimSuffix(name, ".json")
		var meta struct {
			MailFrom string   `json:"mail_from"`
			RcptTos  []string `json:"rcpt_tos"`
			TLS      bool     `json:"tls"`
			Auth     bool     `json:"auth"`
			Peer     string   `json:"peer"`
		}
		b, err := os.ReadFile(name)
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		raw, rerr := os.ReadFile(base + ".eml")
		if err != nil || rerr != nil {
			r.t.Fatalf("smtptest: %s: %v %v", base, err, rerr)
		}
		parsed, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			r.t.Fatalf("smtptest: %s does not parse: %v", base, err)
		}
		out = append(out, Message{Name: filepath.Base(base), MailFrom: meta.MailFrom, RcptTos: meta.RcptTos,
			TLS: meta.TLS, Auth: meta.Auth, Peer: meta.Peer, Raw: raw, Parsed: parsed})
	}
	return out
}

// Wait waits up to timeout for at least n messages and returns them.
func (r *Relay) Wait(n int, timeout time.Duration) []Message {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := r.Messages()
		if len(ms) >= n || time.Now().After(deadline) {
			return ms
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stderr is what the relay wrote to its standard error (for failures).
func (r *Relay) Stderr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stderr == nil {
		return ""
	}
	return r.stderr.String()
}

// makeCert makes a self-signed certificate for 127.0.0.1 and localhost.
func makeCert(t testing.TB, dir string) (ca, cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otpgate smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, cert, key
}

// String describes the relay.
func (r *Relay) String() string { return fmt.Sprintf("aiosmtpd on %s", r.Addr()) }

// Text returns the message's text/plain part, decoded, and its charset; ""
// when it has none.
func (m Message) Text() (text, charset string, err error) {
	return plainPart(textproto(m.Parsed.Header), m.Parsed.Body)
}

// Subject is the message's subject, decoded (RFC 2047).
func (m Message) Subject() string {
	s, err := new(mime.WordDecoder).DecodeHeader(m.Parsed.Header.Get("Subject"))
	if err != nil {
		return m.Parsed.Header.Get("Subject")
	}
	return s
}

type header interface{ Get(string) string }

func textproto(h mail.Header) header { return h }

func plainPart(h header, body io.Reader) (string, string, error) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return "", "", fmt.Errorf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return "", "", err
			}
			if text, cs, err := plainPart(p.Header, p); err == nil && text != "" {
				return text, cs, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", "", nil
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(r)
	return string(b), params["charset"], err
}
