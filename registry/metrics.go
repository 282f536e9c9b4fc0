package registry

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	registered prometheus.Counter
	lookups    prometheus.Counter
	forwarded  *prometheus.CounterVec
	leader     prometheus.Gauge
	rejected   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, site string, st *state) *metrics {
	labels := prometheus.Labels{"site": site}
	m := &metrics{
		registered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "registry",
			Name: "schemas_registered_total", Help: "Schema versions registered through this instance.", ConstLabels: labels}),
		lookups: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "registry",
			Name: "schema_lookups_total", Help: "Schemas served by id.", ConstLabels: labels}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "registry",
			Name: "forwarded_requests_total", Help: "Write requests forwarded to the leader, by outcome (ok, not_applied: done by the leader but not read here within write_timeout, unreachable, no_leader).", ConstLabels: labels}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "registry",
			Name: "rejected_requests_total", Help: "Requests refused to keep the API's resources bounded, by reason (requests, uploads: over max_requests or max_uploads, answered 429; slow_body: body not received within request_timeout; too_large: body larger than a schema log record).", ConstLabels: labels}, []string{"reason"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "registry",
			Name: "leader", Help: "1 while this instance writes the schema log.", ConstLabels: labels}),
	}
	count := func(name, help string, f func(v *view) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "registry",
			Name: name, Help: help, ConstLabels: labels}, func() float64 {
			var n int
			st.read(func(v *view) { n = f(v) })
			return float64(n)
		})
	}
	if reg != nil {
		reg.MustRegister(m.registered, m.lookups, m.forwarded, m.leader, m.rejected,
			count("schemas", "Distinct schema ids held.", (*view).numSchemas),
			count("subjects", "Subjects held, soft-deleted included.", (*view).numSubjects),
			count("log_offset", "Next offset of the schema log to apply.", func(v *view) int { return int(v.nextOffset()) }),
			count("write_position", "Position of the newest write applied: the same at every site once a site has caught up, whatever its offsets.",
				func(v *view) int { return int(v.position()) }),
		)
	}
	return m
}
