package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ServeNoop serves a handler that does no work on addr until ctx ends: it
// reads and discards the request body and answers 201 to /2fa/send and 200 to
// anything else, with a tiny fixed JSON body. Benchmarking it with the same
// generator shows the ceiling the machine allows an otpgate. ready, if not
// nil, is called with the bound address (addr may be "127.0.0.1:0") before
// serving starts.
func ServeNoop(ctx context.Context, addr string, ready func(net.Addr)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("loadgen: noop server: %w", err)
	}
	srv := &http.Server{
		Handler:           noopHandler{},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if ready != nil {
		ready(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("loadgen: noop server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("loadgen: noop server: %w", err)
	}
	return nil
}

// The noop handler's answer; the header slices are shared read-only by all
// responses so the handler allocates nothing of its own.
var (
	noopBody          = []byte(`{"status":"ok"}`)
	noopContentType   = []string{"application/json"}
	noopContentLength = []string{strconv.Itoa(len(noopBody))}
)

type noopHandler struct{}

func (noopHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h := w.Header()
	h["Content-Type"] = noopContentType
	h["Content-Length"] = noopContentLength
	status := http.StatusOK
	if r.URL.Path == "/2fa/send" {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	_, _ = w.Write(noopBody)
}
