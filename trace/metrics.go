package trace

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of hops handed to a Recorder, as the result label of
// meshwork_trace_hops_total.
const (
	ResultWritten = "written" // Kafka has the record that carries it
	ResultDropped = "dropped" // the queue, or the client's buffer, was full
	ResultFailed  = "failed"  // Kafka refused the record that carried it
)

// metrics of a Recorder, labelled with its component.
type metrics struct {
	hops    *prometheus.CounterVec
	records prometheus.Counter
	queued  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, component string) *metrics {
	labels := prometheus.Labels{"component": component}
	m := &metrics{
		hops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "trace", Name: "hops_total",
			Help:        "Trace hops sampled for _mesh.trace, by result: written, dropped (queue or client buffer full: tracing never waits), failed (Kafka refused them).",
			ConstLabels: labels}, []string{"result"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "trace", Name: "records_total",
			Help: "Records written to _mesh.trace, each carrying a batch of hops.", ConstLabels: labels}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "trace", Name: "queued_hops",
			Help: "Hops waiting to be written to _mesh.trace.", ConstLabels: labels}),
	}
	if reg != nil {
		m.hops = register(reg, m.hops)
		m.records = register(reg, m.records)
		m.queued = register(reg, m.queued)
	}
	return m
}

// register registers c, or returns the collector already registered in
// its place: two recorders of one component (tests, the dev mesh) share
// their metrics.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
