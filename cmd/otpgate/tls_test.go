package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 named cn, and its key.
func selfSigned(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	return c
}

// HTTPS without a proxy: --tls-cert and --tls-key serve HTTP/2; a renewed
// certificate is served after a reload (SIGHUP) without a restart, and a
// bad one is refused while the old one stays.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	one := selfSigned(t, certFile, keyFile, "one")
	s := mustServeWith(t, nil, func(c *ServeConfig) { c.TLSCert, c.TLSKey = certFile, keyFile })
	get := func(trust *x509.Certificate) (*http.Response, error) {
		pool := x509.NewCertPool()
		pool.AddCert(trust)
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
		return c.Get("https://" + s.Addr() + "/healthz")
	}
	resp, err := get(one)
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || resp.TLS.PeerCertificates[0].Subject.CommonName != "one" {
		t.Fatalf("HTTPS: %d %s %s", resp.StatusCode, resp.Proto, resp.TLS.PeerCertificates[0].Subject.CommonName)
	}
	// Browsers (the console) are told to come back over HTTPS only.
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
		t.Fatalf("Strict-Transport-Security over TLS: %q", hsts)
	}
	two := selfSigned(t, certFile, keyFile, "two")
	if err := s.ReloadTLS(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	resp, err = get(two)
	if err != nil {
		t.Fatalf("HTTPS after the reload: %v", err)
	}
	resp.Body.Close()
	if resp.TLS.PeerCertificates[0].Subject.CommonName != "two" {
		t.Fatalf("served after the reload: %s", resp.TLS.PeerCertificates[0].Subject.CommonName)
	}
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	if err := s.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Fatalf("reloading a bad certificate: %v", err)
	}
	if resp, err := get(two); err != nil {
		t.Fatalf("HTTPS after a bad reload: %v", err)
	} else {
		resp.Body.Close()
	}
}

// The real binary reloads its certificate on SIGHUP.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	one := selfSigned(t, certFile, keyFile, "one")
	addr := freeAddr(t)
	cmd := exec.Command(mustBuild(t), "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	served := func(trust *x509.Certificate) string {
		pool := x509.NewCertPool()
		pool.AddCert(trust)
		c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		resp, err := c.Get("https://" + addr + "/healthz")
		if err != nil {
			return ""
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s", what)
			}
		}
	}
	waitFor("the first certificate served", func() bool { return served(one) == "one" })
	two := selfSigned(t, certFile, keyFile, "two")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the renewed certificate served after SIGHUP", func() bool { return served(two) == "two" })
	if cmd.ProcessState != nil {
		t.Fatalf("the server exited on SIGHUP")
	}
}

// A Run that fails midway (here the certificate does not read, after the
// store and the components have started) leaves a Main that Close shuts
// down at once, releasing the address and the data directory.
func TestCloseAfterFailedRun(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := ServeConfig{Addr: addr, DataDir: filepath.Join(dir, "data"), Region: "JO", CodeLength: 6, CodeTTL: 10 * time.Minute,
		LogLevel: "warn", LogFormat: "text", TLSCert: bad, TLSKey: bad}
	m := &Main{Config: cfg, Stdout: io.Discard, LogOutput: io.Discard}
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Fatalf("Run with a bad certificate: %v; want an error naming --tls-cert", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close after a failed Run did not return in 10 s")
	}
	// The address and the data directory are free again: a second Main starts.
	cfg.TLSCert, cfg.TLSKey = "", ""
	m2 := &Main{Config: cfg, Stdout: io.Discard, LogOutput: io.Discard}
	if err := m2.Run(context.Background()); err != nil {
		t.Fatalf("a second start on the same address and data directory: %v", err)
	}
	m2.Close()
}
