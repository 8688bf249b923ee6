package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// GET /metrics answers only the bearer of the token; others get a JSON 401
// with a Bearer challenge, and never the metrics.
func TestServeMetrics(t *testing.T) {
	s := New(Config{})
	s.ServeMetrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "otpgate_up 1\n")
	}), "0123456789abcdef")
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer 0123456789abcdeX", 401},
		{"basic auth", "Basic MDEyMzQ1Njc4OWFiY2RlZg==", 401},
		{"the token", "Bearer 0123456789abcdef", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/metrics", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			if tc.status == 401 {
				if strings.Contains(body, "otpgate_up") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") ||
					!strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
					t.Fatalf("401 should be JSON with a Bearer challenge and no metrics: %v %s", rec.Header(), body)
				}
			} else if body != "otpgate_up 1\n" {
				t.Fatalf("body %q, want the metrics", body)
			}
		})
	}
}
