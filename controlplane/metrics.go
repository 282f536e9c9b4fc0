package controlplane

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the control plane: what it sees of the mesh, for alerting.
type metrics struct {
	siteHealthy *prometheus.GaugeVec // site
	linkUp      *prometheus.GaugeVec // source, target
	gatherSecs  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		siteHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "controlplane", Name: "site_healthy",
			Help: "1 when the site's Kafka, registry, adapters and replicators all answered ok at the last gathering."}, []string{"site"}),
		linkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "controlplane", Name: "link_up",
			Help: "1 when the target's replicators reach the source, 0 when one does not, -1 when none reports."}, []string{"source", "target"}),
		gatherSecs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "controlplane", Name: "gather_seconds",
			Help: "How long the last gathering of the whole mesh took."}),
	}
	reg.MustRegister(m.siteHealthy, m.linkUp, m.gatherSecs)
	return m
}

func (m *metrics) observe(s *snapshot, took time.Duration) {
	m.gatherSecs.Set(took.Seconds())
	m.siteHealthy.Reset()
	for _, site := range s.sites {
		v := 0.0
		if site.Healthy {
			v = 1
		}
		m.siteHealthy.WithLabelValues(site.Name).Set(v)
	}
	m.linkUp.Reset()
	for _, l := range s.links {
		v := map[string]float64{LinkUp: 1, LinkDown: 0, LinkUnknown: -1}[l.Status]
		m.linkUp.WithLabelValues(l.Source, l.Target).Set(v)
	}
}
