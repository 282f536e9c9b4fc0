package devmesh

import "github.com/prometheus/client_golang/prometheus"

// collectors exposes the embedded broker's counters and its flow control
// (flow.go) as metrics, labelled with the site.
func (s *site) collectors() []prometheus.Collector {
	labels := prometheus.Labels{"site": s.name}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "meshwork", Subsystem: "dev_mqtt", Name: name, Help: help, ConstLabels: labels}
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts(name, help)), f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts(opts(name, help)), f)
	}
	// One help text for every reason: a metric has one.
	dropped := func(reason string, f func() float64) prometheus.Collector {
		o := opts("messages_dropped_total", "Messages the embedded broker acknowledged and did not deliver to a session, by reason: store_full and write_queue_full are mochi's own limits, which the flow control keeps unreached for QoS 1 and 2 (write_queue_full counts QoS 0 too); offline_session_full is a subscriber other than the MQTT adapter, away with a full session.")
		o.ConstLabels = prometheus.Labels{"site": s.name, "reason": reason}
		return prometheus.NewCounterFunc(prometheus.CounterOpts(o), f)
	}
	info := s.mqtt.srv.Info // its fields change under atomic operations: read through Clone
	flow := s.mqtt.flow
	return []prometheus.Collector{
		gauge("clients_connected", "MQTT clients connected to the embedded broker.", func() float64 { return float64(info.Clone().ClientsConnected) }),
		gauge("messages_received", "PUBLISH packets received by the embedded broker since start.", func() float64 { return float64(info.Clone().MessagesReceived) }),
		gauge("messages_sent", "PUBLISH packets sent by the embedded broker since start.", func() float64 { return float64(info.Clone().MessagesSent) }),
		gauge("retained", "Retained messages held by the embedded broker.", func() float64 { return float64(info.Clone().Retained) }),
		gauge("inflight", "QoS 1 and 2 messages the embedded broker holds unacknowledged, all sessions together.", func() float64 { return float64(info.Clone().Inflight) }),
		gauge("session_inflight_high_water", "The most QoS 1 and 2 messages one session held unacknowledged since start (bounded by mqtt.session_queue, plus one per concurrent publisher).", func() float64 { return float64(flow.highWater.Load()) }),
		counter("publishes_held_total", "Publishes held unacknowledged while the MQTT adapter's session was full (back-pressure).", func() float64 { return float64(flow.held.Load()) }),
		counter("publishes_held_seconds_total", "Time publishes spent held, summed.", func() float64 { return float64(flow.heldNanos.Load()) / 1e9 }),
		counter("slow_subscribers_disconnected_total", "Subscribers disconnected for a full session queue or for reading nothing for the write timeout.", func() float64 { return float64(flow.slow.Load()) }),
		dropped("store_full", func() float64 { return float64(info.Clone().InflightDropped) }),
		dropped("write_queue_full", func() float64 { return float64(info.Clone().MessagesDropped) }),
		dropped("offline_session_full", func() float64 { return float64(flow.offlineDropped.Load()) }),
	}
}
