package factor

import "github.com/prometheus/client_golang/prometheus"

// Metrics count TOTP factors made and codes checked against them.
type Metrics struct {
	made   prometheus.Counter
	checks *prometheus.CounterVec
}

// NewMetrics registers the factor metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		made: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otpgate_totp_factors_created_total",
			Help: "TOTP factors made.",
		}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_totp_checks_total",
			Help: "TOTP codes checked, by kind (verify: a factor's verification; challenge) and result: approved, wrong, replayed (a code already accepted), or locked (refused, too many wrong codes).",
		}, []string{"kind", "result"}),
	}
	reg.MustRegister(m.made, m.checks)
	return m
}

func (m *Metrics) created() {
	if m != nil {
		m.made.Inc()
	}
}

func (m *Metrics) checked(kind, result string) {
	if m != nil {
		m.checks.WithLabelValues(kind, result).Inc()
	}
}
