package main

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certReloader serves the certificate of --tls-cert and --tls-key, read
// again by Reload (on SIGHUP): a renewed certificate is served without a
// restart, and a bad one is refused while the old one stays.
type certReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the certificate and key again.
func (r *certReloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cert.Load(), nil }

// tlsConfig serves r's certificate, TLS 1.2 and up, HTTP/2 and HTTP/1.1.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: r.get, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
}
