package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on --debug-addr
	"time"

	"github.com/otpgate/otpgate/internal/api"
)

// httpServer serves on a listener from Start until Stop. Stop lets the
// requests in flight finish, up to grace (0: it closes at once); it is
// safe to call twice, or without Start (it closes the listener).
type httpServer struct {
	listener net.Listener
	server   *http.Server
	serve    func() error // Serve or ServeTLS, on listener
	grace    time.Duration
	done     chan error // Serve's error, once it returned
	err      error      // how Stop went, until shutdownErr takes it
	stopped  bool
}

func (s *httpServer) Start(context.Context) {
	s.done = make(chan error, 1)
	go func() { s.done <- s.serve() }()
}

func (s *httpServer) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	if s.done == nil {
		s.listener.Close()
		return
	}
	if s.grace > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), s.grace)
		s.err = s.server.Shutdown(ctx)
		cancel()
	} else {
		s.server.Close()
	}
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.err = errors.Join(s.err, err)
	}
}

// shutdownErr is what went wrong in Stop (requests still in flight after
// the grace period), once.
func (s *httpServer) shutdownErr() error {
	err := s.err
	s.err = nil
	return err
}

// Addr is the address the server listens on.
func (s *httpServer) Addr() string { return s.listener.Addr().String() }

// listen makes the HTTP servers: --debug-addr's and --metrics-addr's, when
// set, and the API's on --addr (with TLS when --tls-cert is set), in the
// order they start; they are listening when it returns. It closes what it
// opened if one cannot listen.
func (m *Main) listen(handler http.Handler) (servers []*httpServer, err error) {
	defer func() {
		if err != nil {
			for _, s := range servers {
				s.Stop()
			}
		}
	}()
	plain := func(flag, addr string, h http.Handler) (*httpServer, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		s := &httpServer{listener: l, server: srv, serve: func() error { return srv.Serve(l) }}
		servers = append(servers, s)
		return s, nil
	}
	if m.Config.DebugAddr != "" {
		s, err := plain("--debug-addr", m.Config.DebugAddr, http.DefaultServeMux)
		if err != nil {
			return servers, err
		}
		m.Logger.Info("pprof listening", "addr", s.Addr())
	}
	if m.Config.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.metrics)
		s, err := plain("--metrics-addr", m.Config.MetricsAddr, mux)
		if err != nil {
			return servers, err
		}
		m.Logger.Info("metrics listening", "url", "http://"+s.Addr()+"/metrics")
	} else if m.Config.MetricsToken == "" {
		m.Logger.Info("metrics are not served: set --metrics-addr, or --metrics-token to serve GET /metrics here")
	}
	s, err := m.listenAPI(handler)
	if err != nil {
		return servers, err
	}
	return append(servers, s), nil
}

// listenAPI makes the API's server on --addr, with TLS when --tls-cert is
// set.
func (m *Main) listenAPI(handler http.Handler) (*httpServer, error) {
	l, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    4 * api.MaxHeaderBytes, // above the API's own limit, which answers in JSON
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	s := &httpServer{listener: l, server: srv, grace: 25 * time.Second,
		serve: func() error { return srv.Serve(api.JSONErrorsListener(l)) }}
	if m.Config.TLSCert != "" {
		if m.certs, err = newCertReloader(m.Config.TLSCert, m.Config.TLSKey); err != nil {
			l.Close()
			return nil, err
		}
		srv.TLSConfig = m.certs.tlsConfig()
		s.serve = func() error { return srv.ServeTLS(l, "", "") }
	}
	return s, nil
}
