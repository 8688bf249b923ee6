package guard

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// pumpingMetrics are the SMS-pumping guard's counters; nil records nothing.
type pumpingMetrics struct {
	blocks, refusals *prometheus.CounterVec
	active, failing  *prometheus.Desc
}

// Register registers the guard's metrics with reg: blocks it made and codes
// it refused, by scope (prefix, operator, country); the blocks in force it
// knows of; and whether it is failing open.
func (p *Pumping) Register(reg prometheus.Registerer) {
	m := &pumpingMetrics{
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_guard_blocks_total",
			Help: "Blocks the SMS-pumping guard made on this node, by scope (prefix, operator, country).",
		}, []string{"scope"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_guard_refusals_total",
			Help: "Codes refused (403, code 60410) because of a block in force, by the block's scope.",
		}, []string{"scope"}),
		active: prometheus.NewDesc("otpgate_guard_blocks_active",
			"Blocks in force (not lifted, not ended) that this node knows of, by scope.", []string{"scope"}, nil),
		failing: prometheus.NewDesc("otpgate_guard_failing_open",
			"1 while the guard cannot reach its shared state and goes on with what this node knows.", nil, nil),
	}
	for _, s := range []string{"prefix", "operator", "country"} {
		m.blocks.WithLabelValues(s)
		m.refusals.WithLabelValues(s)
	}
	reg.MustRegister(m.blocks, m.refusals, pumpingCollector{p, m})
	p.mu.Lock()
	p.metrics = m
	p.mu.Unlock()
}

func scopeOf(key string) string {
	s, _, _ := strings.Cut(key, ":")
	return s
}

type pumpingCollector struct {
	p *Pumping
	m *pumpingMetrics
}

func (c pumpingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.active
	ch <- c.m.failing
}

func (c pumpingCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	now := p.cfg.Clock.Now()
	active := map[string]int{"prefix": 0, "operator": 0, "country": 0}
	p.mu.Lock()
	for k, b := range p.blocks {
		if !b.Lifted && now.Before(b.Until) {
			active[scopeOf(k.String())]++
		}
	}
	failing := 0.0
	if p.failing {
		failing = 1
	}
	p.mu.Unlock()
	for s, n := range active {
		ch <- prometheus.MustNewConstMetric(c.m.active, prometheus.GaugeValue, float64(n), s)
	}
	ch <- prometheus.MustNewConstMetric(c.m.failing, prometheus.GaugeValue, failing)
}
