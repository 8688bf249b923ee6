package latency

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Buckets are the histograms' upper bounds, in seconds: 20 us to about 2 s,
// each 1.33 times the one before, fine enough that a quantile read from
// them is within a third of the truth.
var Buckets = prometheus.ExponentialBucketsRange(20e-6, 2, 41)

// MetricName is the histograms' name in /metrics.
const MetricName = "otpgate_send_stage_seconds"

// Histograms is an Observer with one Prometheus histogram per stage.
type Histograms struct {
	vec    *prometheus.HistogramVec
	stages [numStages]prometheus.Observer
}

// NewHistograms registers the histograms with reg.
func NewHistograms(reg prometheus.Registerer) *Histograms {
	h := &Histograms{vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricName,
		Help:    "Time a send spends in each stage on its way to the SMSC: request (read, auth, decode), policies (number, ceilings, policies, composing the code), store_wait (queued for the store's writer), store_write (its rows written), commit (the group's commit: SQLite's WAL write, the message going on during its fsync; PostgreSQL's commit), handoff (commit to the dispatcher starting the delivery), connector (encoding, throttle, window), submit_resp (submit_sm to submit_sm_resp); total is request to submit_sm_resp.",
		Buckets: Buckets,
	}, []string{"stage"})}
	for _, s := range Stages() {
		h.stages[s] = h.vec.WithLabelValues(s.String())
	}
	reg.MustRegister(h.vec)
	return h
}

// ObserveStage implements Observer.
func (h *Histograms) ObserveStage(s Stage, d time.Duration) {
	if s < numStages {
		h.stages[s].Observe(d.Seconds())
	}
}
