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
			Help:    "Time from the submit_sm_resp of a part to its final delivery receipt, for parts submitted by this process (0 for a receipt that came before the submit_sm_resp).",
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
		if d, ok := c.submitTimes.submitted(id, at); ok {
			m.receiptDelay.WithLabelValues(c.cfg.Name).Observe(d.Seconds())
		}
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
	if d, ok := c.submitTimes.received(id, at); ok {
		m.receiptDelay.WithLabelValues(c.cfg.Name).Observe(d.Seconds())
	}
}

// submitTimes remembers when the SMSC took each part, by its message id, to
// time its receipt, and the receipts that came before the submit_sm_resp
// naming their part (an SMSC may send one first; the connector then reads it
// first): up to about maxSubmitTimes of each, the oldest forgotten first (two
// generations), so a receipt that never comes costs nothing for long. A
// receipt for a part submitted by another node or before a restart is not
// timed.
type submitTimes struct {
	mu          sync.Mutex
	sent, early generations
}

const maxSubmitTimes = 200_000

// submitted notes that the SMSC took the part id at at. If its final receipt
// came first, it returns the receipt's delay (0: it was there before the
// submit_sm_resp) and true.
func (s *submitTimes) submitted(id string, at time.Time) (time.Duration, bool) {
	keys := dlr.IDKeys(id)
	if len(keys) == 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.early.take(keys); ok {
		return max(0, r.Sub(at)), true
	}
	s.sent.put(keys[0], at) // stored under the canonical form (see dlr.IDKeys)
	return 0, false
}

// received finds the part a final receipt's id names, in any of the forms
// SMSCs write ids in (dlr.IDKeys), forgets it, and returns the receipt's
// delay. A receipt whose part is not known yet is kept for its
// submit_sm_resp.
func (s *submitTimes) received(id string, at time.Time) (time.Duration, bool) {
	keys := dlr.IDKeys(id)
	if len(keys) == 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sent, ok := s.sent.take(keys); ok {
		return at.Sub(sent), true
	}
	s.early.put(keys[0], at)
	return 0, false
}

// generations maps ids' keys to times, forgetting the older half past
// maxSubmitTimes.
type generations struct{ cur, prev map[string]time.Time }

func (g *generations) put(key string, at time.Time) {
	if g.cur == nil {
		g.cur = map[string]time.Time{}
	}
	if len(g.cur) >= maxSubmitTimes/2 {
		g.prev, g.cur = g.cur, map[string]time.Time{}
	}
	g.cur[key] = at
}

// take returns and forgets the time under the first of keys found.
func (g *generations) take(keys []string) (time.Time, bool) {
	for _, k := range keys {
		for _, m := range []map[string]time.Time{g.cur, g.prev} {
			if at, ok := m[k]; ok {
				delete(m, k)
				return at, true
			}
		}
	}
	return time.Time{}, false
}
