package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpgate/otpgate/internal/otpgate"
)

// Requests are counted by the route that served them and the status sent,
// and timed by route; paths no route has share one series.
func TestHTTPMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s := New(Config{Metrics: NewMetrics(reg)})
	s.Public("POST /things/{sid}", nil, func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("sid") == "bad" {
			return otpgate.FieldError("sid", otpgate.InvalidField, "")
		}
		WriteJSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
		return nil
	})
	for _, req := range []struct{ method, path string }{
		{"POST", "/things/a"}, {"POST", "/things/b"}, {"POST", "/things/bad"},
		{"GET", "/things/a"}, {"GET", "/nowhere/1"}, {"GET", "/nowhere/2"}, {"GET", "/healthz"},
	} {
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"POST /things/{sid}", "201", 2},
		{"POST /things/{sid}", "400", 1},
		{"any /things/{sid}", "405", 1},
		{"unmatched", "404", 2},
		{"GET /healthz", "200", 1},
	} {
		if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(c.route, c.code)); got != c.want {
			t.Errorf("requests{route=%q,code=%s} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(s.metrics.latency); n != 4 {
		t.Errorf("%d latency series, want one per route seen (4)", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric names: %v %v", problems, err)
	}
}

// A route whose handler routes again with its own mux (the console) is
// counted under the route registered here, not the inner pattern.
func TestHTTPMetricsInnerMux(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s := New(Config{Metrics: NewMetrics(reg)})
	inner := http.NewServeMux()
	inner.HandleFunc("GET /app/page", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	s.Public("GET /app/", nil, func(w http.ResponseWriter, r *http.Request) error {
		inner.ServeHTTP(w, r)
		return nil
	})
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/app/page", nil))
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/app/none", nil))
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("GET /app/", "204")); got != 1 {
		t.Errorf(`requests{route="GET /app/",code="204"} = %v, want 1`, got)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("GET /app/", "404")); got != 1 {
		t.Errorf(`requests{route="GET /app/",code="404"} = %v, want 1 (the inner mux's 404)`, got)
	}
}
