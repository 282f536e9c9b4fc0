package mqtt

import "github.com/prometheus/client_golang/prometheus"

// metrics are the adapter's Prometheus series, registered on the registry
// the service passes in.
type metrics struct {
	ingress     *prometheus.CounterVec   // rule, qos, result
	egress      *prometheus.CounterVec   // rule, result
	ackLatency  *prometheus.HistogramVec // rule
	inFlight    prometheus.Gauge
	queued      prometheus.Gauge
	dlq         *prometheus.CounterVec // rule
	retries     *prometheus.CounterVec // direction
	reconnects  prometheus.Counter
	connected   prometheus.Gauge
	unmatched   prometheus.Counter
	publishTime *prometheus.HistogramVec // rule
}

// Results counted in the message counters.
const (
	resultProduced  = "produced"  // in Kafka, acknowledged to the broker
	resultDropped   = "dropped"   // QoS 0 message dropped: the queue was full
	resultFailed    = "failed"    // QoS 0 message Kafka did not take
	resultDLQ       = "dlq"       // dead-lettered, then acknowledged
	resultPublished = "published" // published to MQTT, offset marked
	resultSkipped   = "skipped"   // egress: produced by this adapter's ingress
)

// newMetrics labels every series with the site, so that adapters of several
// sites can share one registry (as in the dev mesh). A nil reg registers
// nothing.
func newMetrics(reg prometheus.Registerer, site string) *metrics {
	const ns, sub = "meshwork", "mqtt"
	m := &metrics{
		ingress: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_messages_total", Help: "MQTT messages taken into Kafka, by rule, QoS and result (produced, dropped, failed, dlq)."},
			[]string{"rule", "qos", "result"}),
		egress: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "egress_messages_total", Help: "Kafka records carried to MQTT, by rule and result (published, skipped as echoes)."},
			[]string{"rule", "result"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_ack_latency_seconds", Help: "Time from receiving an MQTT message to acknowledging it to the broker after Kafka took it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"rule"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_in_flight", Help: "MQTT messages handed to Kafka and not yet acknowledged to the broker."}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_queued", Help: "MQTT messages received and waiting for a place in the in-flight window."}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "dlq_total", Help: "Messages written to a dead-letter topic, by rule."}, []string{"rule"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "retries_total", Help: "Deliveries tried again: Kafka produces (ingress) and MQTT publishes (egress)."}, []string{"direction"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reconnects_total", Help: "Reconnection attempts to the MQTT broker."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connected", Help: "1 while connected to the MQTT broker."}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_unmatched_total", Help: "MQTT messages that matched no ingress rule (e.g. from a subscription an earlier configuration left in the session), acknowledged and not forwarded."}),
		publishTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "egress_publish_seconds", Help: "Time from publishing a record to MQTT to the broker's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"rule"}),
	}
	if reg == nil {
		return m
	}
	prometheus.WrapRegistererWith(prometheus.Labels{"site": site}, reg).MustRegister(m.ingress, m.egress, m.ackLatency, m.inFlight, m.queued, m.dlq, m.retries,
		m.reconnects, m.connected, m.unmatched, m.publishTime)
	return m
}
