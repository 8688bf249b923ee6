package verify

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count codes sent and checked, by service and operator, so a
// dashboard can show conversion (approved / sent) per service and operator
// and see a service or an operator whose codes stop being typed in.
type Metrics struct {
	sends     *prometheus.CounterVec
	checks    *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	names     serviceLabels
}

// NewMetrics registers the verification metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_verify_sends_total",
			Help: "Codes sent (accepted for delivery), by service, the destination's operator, and whether it started a verification (new) or resent within one (resend).",
		}, []string{"service", "operator", "kind"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_verify_checks_total",
			Help: "Codes checked, by service, operator and result: approved, wrong (an attempt used), or refused (no attempts left).",
		}, []string{"service", "operator", "result"}),
	}
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "otpgate_verify_fallbacks_total",
		Help: "Fallbacks of code SMS to email, by result: sent (a code by email), skipped_delivered (the SMS was delivered), skipped_resolved (the verification was no longer pending), refused (a limit or the guard refused the email).",
	}, []string{"result"})
	for _, r := range []string{FallbackSent, FallbackSkippedDelivered, FallbackSkippedResolved, FallbackRefused} {
		m.fallbacks.WithLabelValues(r)
	}
	reg.MustRegister(m.sends, m.checks, m.fallbacks)
	return m
}

func (m *Metrics) sent(service, operator string, isNew bool) {
	if m == nil {
		return
	}
	kind := "resend"
	if isNew {
		kind = "new"
	}
	m.sends.WithLabelValues(m.names.label(service), operatorLabel(operator), kind).Inc()
}

func (m *Metrics) fellBack(result string) {
	if m == nil {
		return
	}
	m.fallbacks.WithLabelValues(result).Inc()
}

func (m *Metrics) checked(service, operator, result string) {
	if m == nil {
		return
	}
	m.checks.WithLabelValues(m.names.label(service), operatorLabel(operator), result).Inc()
}

func operatorLabel(op string) string {
	if op == "" {
		return "unknown"
	}
	return op
}

// maxServiceLabels bounds the series: services are made on first use, and
// an app that made one per user would otherwise make a series per user.
// Past the bound, new services count as "other".
const maxServiceLabels = 200

type serviceLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *serviceLabels) label(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[name] {
		return name
	}
	if len(l.seen) >= maxServiceLabels {
		return "other"
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[name] = true
	return name
}
