package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/internal/latency"
)

// Metrics are the HTTP metrics: requests by route and status, and their
// latency by route. A route is the pattern that served the request
// ("POST /2fa/send", "GET /v2/Services/{sid}"), so the series are as many
// as the routes; a request no route takes is "unmatched". With them, the
// time each send spends in each stage on its way to the SMSC
// (latency.Histograms), followed from the request's arrival.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	stages   *latency.Histograms
}

// NewMetrics registers the HTTP metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_http_requests_total",
			Help: "HTTP requests answered, by route (the pattern that served it) and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otpgate_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, from its headers read to its reply written, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	m.stages = latency.NewHistograms(reg)
	return m
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (m *Metrics) observe(route string, status int, took time.Duration) {
	switch {
	case route == "" || route == "/":
		route = "unmatched"
	case !strings.Contains(route, " "):
		route = "any " + route // the 405 of a path registered for other methods
	}
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}
