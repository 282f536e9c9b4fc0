package amqp

import "github.com/prometheus/client_golang/prometheus"

// linkMetrics are the AMQP connection's and links' own series; the
// pipelines' are the adapter core's (adapters.Metrics), meshwork_amqp_...
// too.
type linkMetrics struct {
	reconnects prometheus.Counter
	connected  prometheus.Gauge
	// unsettled counts the messages received and not yet settled: the
	// credit in use. credit is each receiver's link credit.
	unsettled prometheus.Gauge
	credit    prometheus.Gauge
	released  prometheus.Counter
	// reattaches counts the receivers the watchdog attached anew, stalls
	// those of them whose new link delivered at once (the old one had
	// stalled with messages in the queue), by rule.
	reattaches, stalls *prometheus.CounterVec
	// outcomes counts the broker's outcomes of egress sends.
	outcomes *prometheus.CounterVec
}

func newLinkMetrics(reg prometheus.Registerer, site string) *linkMetrics {
	const ns, sub = "meshwork", "amqp"
	m := &linkMetrics{
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reconnects_total", Help: "Connections to the AMQP broker lost or refused and tried again."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connected", Help: "1 while connected to the AMQP broker with every ingress link attached."}),
		unsettled: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_unsettled", Help: "Messages received and not yet settled: link credit in use, withheld while Kafka has not acknowledged them."}),
		credit: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_link_credit", Help: "Link credit of each ingress receiver (max_in_flight)."}),
		released: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_released_total", Help: "Messages settled Released because the adapter stopped before Kafka took them."}),
		reattaches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_reattaches_total", Help: "Ingress receivers detached and attached anew after broker.stall_timeout without a message while they had credit out, by rule."},
			[]string{"rule"}),
		stalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_stalls_total", Help: "Receivers attached anew whose new link delivered at once: the old link had stalled with credit out while its queue held messages, by rule."},
			[]string{"rule"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "egress_outcomes_total", Help: "Outcomes of egress sends, by rule and outcome (accepted, rejected, released, modified, lost)."},
			[]string{"rule", "outcome"}),
	}
	if reg != nil {
		prometheus.WrapRegistererWith(prometheus.Labels{"site": site}, reg).MustRegister(
			m.reconnects, m.connected, m.unsettled, m.credit, m.released, m.reattaches, m.stalls, m.outcomes)
	}
	return m
}
