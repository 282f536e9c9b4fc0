package mqtt

import "github.com/prometheus/client_golang/prometheus"

// sessionMetrics are the MQTT session's own series; the pipelines' are the
// adapter core's (adapters.Metrics), meshwork_mqtt_... too.
type sessionMetrics struct {
	reconnects prometheus.Counter
	connected  prometheus.Gauge
}

func newSessionMetrics(reg prometheus.Registerer, site string) *sessionMetrics {
	const ns, sub = "meshwork", "mqtt"
	m := &sessionMetrics{
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "reconnects_total", Help: "Reconnection attempts to the MQTT broker."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connected", Help: "1 while connected to the MQTT broker."}),
	}
	if reg != nil {
		prometheus.WrapRegistererWith(prometheus.Labels{"site": site}, reg).MustRegister(m.reconnects, m.connected)
	}
	return m
}
