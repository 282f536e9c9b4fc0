package replicator

import "github.com/prometheus/client_golang/prometheus"

// metrics of one replicator, labelled by the site it copies into.
type metrics struct {
	flowMetrics
	restarts *prometheus.CounterVec // source
	flows    *prometheus.GaugeVec   // source
	units    *prometheus.GaugeVec   // source
	interest *prometheus.GaugeVec   // site: topics the site is interested in
	siteUp   *prometheus.GaugeVec   // site: its cluster answered the last look
}

// flowMetrics are the metrics the flows write.
type flowMetrics struct {
	copied       *prometheus.CounterVec   // source, topic
	copiedBytes  *prometheus.CounterVec   // source
	skipped      *prometheus.CounterVec   // source, topic
	lagRecords   *prometheus.GaugeVec     // source, topic, partition
	lagSeconds   *prometheus.GaugeVec     // source, topic, partition
	transactions *prometheus.CounterVec   // source
	aborts       *prometheus.CounterVec   // source
	fetchErrors  *prometheus.CounterVec   // source, topic
	copyGap      *prometheus.HistogramVec // source
	replans      *prometheus.CounterVec   // source, change (added, removed)
	refused      *prometheus.CounterVec   // source, reason
	failing      *prometheus.GaugeVec     // source
}

func newMetrics(reg prometheus.Registerer, site string) *metrics {
	labels := prometheus.Labels{"site": site}
	counter := func(name, help string, l ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "replicator", Name: name, Help: help, ConstLabels: labels}, l)
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, l ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "replicator", Name: name, Help: help, ConstLabels: labels}, l)
		reg.MustRegister(g)
		return g
	}
	histogram := func(name, help string, buckets []float64, l ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "meshwork", Subsystem: "replicator", Name: name, Help: help, ConstLabels: labels, Buckets: buckets}, l)
		reg.MustRegister(h)
		return h
	}
	return &metrics{
		flowMetrics: flowMetrics{
			copied:       counter("records_copied_total", "Records copied into this site, by source site and topic.", "source", "topic"),
			copiedBytes:  counter("bytes_copied_total", "Key and value bytes copied into this site, by source site.", "source"),
			skipped:      counter("records_skipped_total", "Records read and not copied: they came from elsewhere, or the site already holds them.", "source", "topic"),
			lagRecords:   gauge("lag_records", "Records at the source not yet copied, by source partition.", "source", "topic", "partition"),
			lagSeconds:   gauge("lag_seconds", "Age of the last record read while records remain behind it (0 when caught up).", "source", "topic", "partition"),
			transactions: counter("transactions_total", "Batches committed (transactions in exactly-once mode).", "source"),
			aborts:       counter("transaction_aborts_total", "Transactions aborted; the flow restarts from its checkpoint.", "source"),
			fetchErrors:  counter("fetch_errors_total", "Errors reading from a source site.", "source", "topic"),
			copyGap: histogram("copy_gap_seconds", "Time between consecutive commits that copied records of one source partition, "+
				"counted when the later commit's first record was already at the source at the earlier one: how long records waited on their flow (its pauses).",
				[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "source"),
			replans: counter("flow_units_changed_total", "Source partitions added to or removed from running flows, without stopping them.", "source", "change"),
			refused: counter("records_refused_total", "Records read and not copied because they never could be (too large here, malformed mesh headers): "+
				"each went to _mesh.dlq.<topic> here, committed with its batch.", "source", "reason"),
			failing: gauge("flows_failing", "Flows whose last attempt failed with no commit since: they restart with backoff "+
				"(the replicator is not ready once one fails longer than flow.failing_after).", "source"),
		},
		restarts: counter("flow_restarts_total", "Flows restarted after an error.", "source"),
		flows:    gauge("flows", "Running flows (source site, slot), by source site.", "source"),
		units:    gauge("units", "Source partitions being copied, by source site.", "source"),
		interest: gauge("interest_topics", "Topics each site is interested in, as this replicator reads the leases.", "of_site"),
		siteUp:   gauge("site_up", "1 when the site's cluster answered the replicator's last look.", "of_site"),
	}
}
