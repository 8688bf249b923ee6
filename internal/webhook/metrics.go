package webhook

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the callback sender's; nil until Register.
type metrics struct {
	attempts *prometheus.CounterVec
	opens    prometheus.Counter
	pending  *prometheus.Desc
	oldest   *prometheus.Desc
	inFlight *prometheus.Desc
	held     *prometheus.Desc
	open     *prometheus.Desc
}

// Register registers the sender's metrics with reg; call it before Start.
// The backlog (callbacks waiting in the store, and the oldest's age) is
// read from the store at each scrape, within a second; when it cannot be,
// it is left out of that scrape and the rest is served.
func (s *Sender) Register(reg prometheus.Registerer) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_callback_attempts_total",
			Help: "Callback POSTs by result: delivered (2xx), failed (retried later) or gave_up (failed past the retry period).",
		}, []string{"result"}),
		opens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otpgate_callback_circuit_opens_total",
			Help: "Times a circuit (one account's callbacks to one host) opened after failures in a row (those callbacks then wait; other accounts' to the host go on).",
		}),
		pending: prometheus.NewDesc("otpgate_callbacks_pending",
			"Callbacks waiting to be delivered (due, retrying or in flight), all nodes.", nil, nil),
		oldest: prometheus.NewDesc("otpgate_callbacks_oldest_age_seconds",
			"Age of the oldest callback waiting (0 when none).", nil, nil),
		inFlight: prometheus.NewDesc("otpgate_callbacks_in_flight",
			"Callback POSTs this node has in flight.", nil, nil),
		held: prometheus.NewDesc("otpgate_callbacks_held",
			"Callbacks this node claimed and holds for a worker, for their account's fair share, or for their account's cap or circuit at their host.", nil, nil),
		open: prometheus.NewDesc("otpgate_callback_circuits_open",
			"Circuits (one account's callbacks to one host) open now on this node.", nil, nil),
	}
	for _, r := range []string{"delivered", "failed", "gave_up"} {
		m.attempts.WithLabelValues(r)
	}
	reg.MustRegister(m.attempts, m.opens, senderCollector{s, m})
	s.metrics = m
}

type senderCollector struct {
	s *Sender
	m *metrics
}

func (c senderCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.pending
	ch <- c.m.oldest
	ch <- c.m.inFlight
	ch <- c.m.held
	ch <- c.m.open
}

func (c senderCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.m.inFlight, prometheus.GaugeValue, float64(c.s.inFlight.Load()))
	ch <- prometheus.MustNewConstMetric(c.m.held, prometheus.GaugeValue, float64(c.s.held.Load()))
	ch <- prometheus.MustNewConstMetric(c.m.open, prometheus.GaugeValue, float64(c.s.limits.openCircuits(c.s.cfg.Clock.Now())))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, oldest, err := c.s.cfg.Store.CallbackBacklog(ctx)
	if err != nil {
		// Left out of this scrape, not failing it: the rest (the guard
		// failing open, say) matters most while the store is down.
		c.s.cfg.Logger.Warn("metrics: the callback backlog could not be read; left out of this scrape", "err", err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, c.s.cfg.Clock.Now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.m.pending, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.m.oldest, prometheus.GaugeValue, age)
}
