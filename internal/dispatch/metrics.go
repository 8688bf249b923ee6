package dispatch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/internal/message"
)

// metrics are the dispatcher's; nil until Register.
type metrics struct {
	outcomes *prometheus.CounterVec
	channels *prometheus.CounterVec
	handoff  *prometheus.HistogramVec
	waiting  *prometheus.Desc
	oldest   *prometheus.Desc
}

// Register registers the dispatcher's metrics with reg; call it before
// Start. Per route: the messages this node has taken for delivery and not
// yet handed to a connector for good, and the age of the oldest (a growing
// age is a route that does not keep up); each send's outcome; and the time
// from a message's acceptance to the SMSC taking it.
func (d *Dispatcher) Register(reg prometheus.Registerer) {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_dispatch_outcomes_total",
			Help: "Send attempts by route and outcome: sent (a connector took it), failed (for good), retry (failed, tried again later), parked (no connector of the route bound).",
		}, []string{"route", "outcome"}),
		channels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpgate_dispatch_channel_outcomes_total",
			Help: "Send attempts by channel (sms, email) and outcome, as otpgate_dispatch_outcomes_total counts them by route.",
		}, []string{"channel", "outcome"}),
		handoff: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otpgate_dispatch_handoff_seconds",
			Help:    "Time from a message's acceptance (its 201) to a connector's SMSC taking it (the sandbox: to the write that delivers it), by route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		waiting: prometheus.NewDesc("otpgate_outbox_messages",
			"Messages this node has taken for delivery on the route and not yet handed to a connector for good.", []string{"route"}, nil),
		oldest: prometheus.NewDesc("otpgate_outbox_oldest_age_seconds",
			"Age of the oldest message waiting on the route (0 when none waits).", []string{"route"}, nil),
	}
	reg.MustRegister(m.outcomes, m.channels, m.handoff, backlogCollector{d, m})
	d.metrics = m
}

type backlogCollector struct {
	d *Dispatcher
	m *metrics
}

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.waiting
	ch <- c.m.oldest
}

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.d.Backlog(c.d.cfg.Clock.Now()) {
		ch <- prometheus.MustNewConstMetric(c.m.waiting, prometheus.GaugeValue, float64(s.Waiting), routeLabel(s.Route))
		ch <- prometheus.MustNewConstMetric(c.m.oldest, prometheus.GaugeValue, s.Oldest.Seconds(), routeLabel(s.Route))
	}
}

func (m *metrics) outcome(route string, ch message.Channel, outcome string) {
	if m != nil {
		m.outcomes.WithLabelValues(routeLabel(route), outcome).Inc()
		m.channels.WithLabelValues(string(ch.Or()), outcome).Inc()
	}
}

// routeLabel names a route in metrics: its key, or "default" for the one
// route of a setup without routes (the sandbox, or --smpp alone).
func routeLabel(key string) string {
	if key == "" {
		return "default"
	}
	return key
}
