package smpp

import (
	"sync"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/internal/dlr"
)

// Metrics are the connectors' Prometheus metrics, labelled by connector.
// One Metrics serves every connector of a process; a nil *Metrics records
// nothing.
type Metrics struct {
	submits      *prometheus.CounterVec
	throttles    *prometheus.CounterVec
	submitErrors *prometheus.CounterVec
	receipts     *prometheus.CounterVec
	receiptDelay *prometheus.HistogramVec

	bindsUp, window *prometheus.Desc
	mu              sync.Mutex
	connectors      []*Connector
}

// NewMetrics registers the connectors' metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_smpp_submits_total",
			Help: "submit_sm the SMSC accepted (ESME_ROK), one per SMS part.",
		}, []string{"connector"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_smpp_throttled_total",
			Help: "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL (the part is submitted again after a pause).",
		}, []string{"connector"}),
		submitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_smpp_submit_errors_total",
			Help: "submit_sm_resp with an error status other than throttling, by status name.",
		}, []string{"connector", "status"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_smpp_receipts_total",
			Help: "Delivery receipts received, by the final status they report (delivered, undelivered, failed; intermediate for ENROUTE/ACCEPTD; unreadable).",
		}, []string{"connector", "status"}),
		receiptDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otpgate_smpp_receipt_delay_seconds",
			Help:    "Time from the submit_sm_resp of a part to its final delivery receipt, for parts submitted by this process.",
			Buckets: []float64{0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900, 3600},
		}, []string{"connector"}),
		bindsUp: prometheus.NewDesc("otpgate_smpp_binds_up",
			"Binds of the connector that are up (bound and not draining).", []string{"connector"}, nil),
		window: prometheus.NewDesc("otpgate_smpp_window_in_use",
			"submit_sm outstanding (sent, no submit_sm_resp yet), summed over the connector's binds.", []string{"connector"}, nil),
	}
	reg.MustRegister(m.submits, m.throttles, m.submitErrors, m.receipts, m.receiptDelay, m)
	return m
}

// Describe implements prometheus.Collector for the gauges read at scrape.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.bindsUp
	ch <- m.window
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	cs := append([]*Connector(nil), m.connectors...)
	m.mu.Unlock()
	for _, c := range cs {
		up, inUse := 0, 0
		for _, b := range c.binds {
			if b.isUp() {
				up++
			}
			inUse += len(b.window)
		}
		ch <- prometheus.MustNewConstMetric(m.bindsUp, prometheus.GaugeValue, float64(up), c.cfg.Name)
		ch <- prometheus.MustNewConstMetric(m.window, prometheus.GaugeValue, float64(inUse), c.cfg.Name)
	}
}

// Instrument makes c record its metrics in m; call it before Start.
func (c *Connector) Instrument(m *Metrics) {
	if m == nil {
		return
	}
	c.metrics = m
	m.mu.Lock()
	m.connectors = append(m.connectors, c)
	m.mu.Unlock()
	for _, l := range []string{"delivered", "undelivered", "failed"} {
		m.receipts.WithLabelValues(c.cfg.Name, l) // present at 0 from the start
	}
	m.submits.WithLabelValues(c.cfg.Name)
	m.throttles.WithLabelValues(c.cfg.Name)
}

func (m *Metrics) submitted(c *Connector, status data.CommandStatusType, id string, at time.Time) {
	if m == nil {
		return
	}
	switch status {
	case data.ESME_ROK:
		m.submits.WithLabelValues(c.cfg.Name).Inc()
		c.submitTimes.put(id, at)
	case data.ESME_RTHROTTLED, data.ESME_RMSGQFUL:
		m.throttles.WithLabelValues(c.cfg.Name).Inc()
	default:
		m.submitErrors.WithLabelValues(c.cfg.Name, status.String()).Inc()
	}
}

func (m *Metrics) receipt(c *Connector, status, id string, at time.Time) {
	if m == nil {
		return
	}
	if status == "" {
		status = "intermediate"
	}
	m.receipts.WithLabelValues(c.cfg.Name, status).Inc()
	if status == "intermediate" || status == "unreadable" {
		return
	}
	if sent, ok := c.submitTimes.take(id); ok {
		m.receiptDelay.WithLabelValues(c.cfg.Name).Observe(at.Sub(sent).Seconds())
	}
}

// submitTimes remembers when the SMSC took each part, by its message id, to
// time its receipt: up to about maxSubmitTimes parts, the oldest forgotten
// first (two generations), so a receipt that never comes costs nothing for
// long. A receipt for a part submitted by another node or before a restart
// is not timed.
type submitTimes struct {
	mu        sync.Mutex
	cur, prev map[string]time.Time
}

const maxSubmitTimes = 200_000

func (s *submitTimes) put(id string, at time.Time) {
	keys := dlr.IDKeys(id)
	if len(keys) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		s.cur = map[string]time.Time{}
	}
	if len(s.cur) >= maxSubmitTimes/2 {
		s.prev, s.cur = s.cur, map[string]time.Time{}
	}
	s.cur[keys[0]] = at // stored under the canonical form (see dlr.IDKeys)
}

// take finds the part a receipt's id names, in any of the forms SMSCs write
// ids in (dlr.IDKeys), and forgets it.
func (s *submitTimes) take(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range dlr.IDKeys(id) {
		for _, m := range []map[string]time.Time{s.cur, s.prev} {
			if at, ok := m[k]; ok {
				delete(m, k)
				return at, true
			}
		}
	}
	return time.Time{}, false
}
