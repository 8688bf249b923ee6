package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A client that hangs up mid-request is not a server failure: operators
// alerting on level=ERROR must not be paged for it, and an internal error is
// still logged as one.
func TestWriteErrorClientGone(t *testing.T) {
	var logs bytes.Buffer
	s := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest(http.MethodPost, "/2fa/send", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	s.WriteError(w, r, nil, fmt.Errorf("sqlite: send: %w", context.Canceled))
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client that hung up was logged as an error:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "abandoned by the client") {
		t.Errorf("the abandoned request was not logged:\n%s", logs.String())
	}

	logs.Reset()
	r = httptest.NewRequest(http.MethodPost, "/2fa/send", nil)
	w = httptest.NewRecorder()
	s.WriteError(w, r, nil, errors.New("disk on fire"))
	if w.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("an internal error gave %d and logged:\n%s", w.Code, logs.String())
	}
	// The same cancellation error while the client is still there (say, a
	// store that gave up on its own) is the server's failure.
	logs.Reset()
	w = httptest.NewRecorder()
	s.WriteError(w, r, nil, context.Canceled)
	if w.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a cancellation with the client present gave %d and logged:\n%s", w.Code, logs.String())
	}
}
