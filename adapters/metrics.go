package adapters

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results an ingress or egress message ends with, as the result label of
// the messages_total metrics.
const (
	ResultProduced  = "produced"  // ingress: Kafka has it
	ResultDLQ       = "dlq"       // written to the dead-letter topic instead
	ResultDropped   = "dropped"   // best effort (MQTT QoS 0) and the queue was full
	ResultFailed    = "failed"    // best effort and Kafka refused it
	ResultUnmatched = "unmatched" // no rule took it; acknowledged, not forwarded
	ResultPublished = "published" // egress: the peer confirmed it
	ResultSkipped   = "skipped"   // egress: not for the peer (an echo of its own ingress)
)

// Metrics are an adapter's metrics, the same for every protocol:
// meshwork_<protocol>_..., each labelled with the site.
type Metrics struct {
	ingress    *prometheus.CounterVec
	egress     *prometheus.CounterVec
	ackLatency *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	queued     prometheus.Gauge
	retries    *prometheus.CounterVec
	publish    *prometheus.HistogramVec
	// deadLetters counts by direction and reason (see Classify);
	// retrying is what waits to be tried again now, by direction.
	deadLetters    *prometheus.CounterVec
	retrying       *prometheus.GaugeVec
	egressInFlight prometheus.Gauge
}

// NewMetrics creates the metrics of protocol's adapter at site and
// registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer, protocol, site string) *Metrics {
	ns, sub := "meshwork", protocol
	m := &Metrics{
		ingress: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_messages_total", Help: "Messages taken into Kafka, by rule and result (produced, dlq, dropped, failed, unmatched)."},
			[]string{"rule", "result"}),
		egress: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "egress_messages_total", Help: "Kafka records carried to the peer, by rule and result (published, skipped, dlq)."},
			[]string{"rule", "result"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_ack_latency_seconds", Help: "Time from receiving a message to acknowledging it upstream after Kafka took it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"rule"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_in_flight", Help: "Messages handed to Kafka and not yet acknowledged upstream."}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "ingress_queued", Help: "Messages received and waiting for a place in the in-flight window."}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "retries_total", Help: "Deliveries tried again: Kafka produces (ingress), registry lookups (registry), dead-letter writes (dlq) and peer deliveries (egress)."},
			[]string{"direction"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "egress_publish_seconds", Help: "Time from handing a record to the peer to its confirmation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"rule"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "dead_letters_total", Help: "Messages written to a dead-letter topic because they can never be delivered, by direction (ingress, egress) and reason (too_large, invalid, unauthorized, invalid_topic, schema, envelope, refused)."},
			[]string{"direction", "reason"}),
		retrying: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "retrying", Help: "Deliveries waiting now to be tried again after a transient failure: ingress messages, egress partitions."},
			[]string{"direction"}),
		egressInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "egress_in_flight", Help: "Kafka records handed to the peer and not yet confirmed."}),
	}
	if reg != nil {
		prometheus.WrapRegistererWith(prometheus.Labels{"site": site}, reg).MustRegister(
			m.ingress, m.egress, m.ackLatency, m.inFlight, m.queued, m.retries, m.publish,
			m.deadLetters, m.retrying, m.egressInFlight)
	}
	return m
}

// IngressCount is the counter of ingress messages of rule that ended with
// result; tests and the adapters' own metrics read it.
func (m *Metrics) IngressCount(rule, result string) prometheus.Counter {
	return m.ingress.WithLabelValues(rule, result)
}

// EgressCount is the counter of egress records of rule that ended with
// result.
func (m *Metrics) EgressCount(rule, result string) prometheus.Counter {
	return m.egress.WithLabelValues(rule, result)
}

// RetryCount is the counter of deliveries tried again in direction.
func (m *Metrics) RetryCount(direction string) prometheus.Counter {
	return m.retries.WithLabelValues(direction)
}

// Retry counts a delivery tried again in direction (ingress, egress,
// registry, dlq).
func (m *Metrics) Retry(direction string) { m.retries.WithLabelValues(direction).Inc() }

// DeadLetterCount is the counter of messages dead-lettered in direction
// for reason.
func (m *Metrics) DeadLetterCount(direction, reason string) prometheus.Counter {
	return m.deadLetters.WithLabelValues(direction, reason)
}

// Retrying is the gauge of deliveries in direction waiting to be tried
// again.
func (m *Metrics) Retrying(direction string) prometheus.Gauge {
	return m.retrying.WithLabelValues(direction)
}

// InFlight is the gauge of ingress messages handed to Kafka and not yet
// settled.
func (m *Metrics) InFlight() prometheus.Gauge { return m.inFlight }
