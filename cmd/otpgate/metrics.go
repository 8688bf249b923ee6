package main

import (
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/internal/latency"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMetrics makes the one registry every component's metrics go to, with
// the Go runtime's, the process's and the build's, and the handler that
// serves it (on --metrics-addr, or behind --metrics-token).
func (m *Main) newMetrics() {
	m.registry = prometheus.NewRegistry()
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bi := buildInfo()
	buildGauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "otpgate_build_info", Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.GoVersion}})
	buildGauge.Set(1)
	m.registry.MustRegister(buildGauge)
	m.metrics = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry,
		ErrorLog: slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError})
}

// instrumentStore adds, on the embedded store, the histogram of its fsyncs:
// the disk's part of every write's answer.
func (m *Main) instrumentStore() {
	st, ok := m.store.(interface{ ObserveFsync(func(time.Duration)) })
	if !ok {
		return
	}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "otpgate_store_fsync_seconds",
		Help:    "Time each fsync of the embedded SQLite store's WAL took: every write's answer waits for one after its commit (a send's SMS does not).",
		Buckets: latency.Buckets})
	m.registry.MustRegister(h)
	st.ObserveFsync(func(d time.Duration) { h.Observe(d.Seconds()) })
}
