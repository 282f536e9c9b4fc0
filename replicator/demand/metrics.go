package demand

import (
	"fmt"
	"sync"

	"github.com/meshwork/meshwork/interest"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the package's components see and do; pass it to them
// with WithMetrics.
type Metrics struct {
	leases        *prometheus.GaugeVec
	invalid       prometheus.Counter
	scans         prometheus.Counter
	scanErrors    prometheus.Counter
	discovered    prometheus.Gauge
	publishErrors prometheus.Counter

	mu sync.Mutex // one update of leases at a time
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "meshwork", Subsystem: "interest", Name: name, Help: help}
	}
	m := &Metrics{
		leases: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("leases",
			"Leases in force in the watched _mesh.interest, by the site that holds them and their source kind.")),
			[]string{"site", "kind"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts(opts("records_invalid_total",
			"Records of _mesh.interest that are not valid leases and were ignored."))),
		scans: prometheus.NewCounter(prometheus.CounterOpts(opts("discovery_scans_total",
			"Scans of the local cluster's consumer groups."))),
		scanErrors: prometheus.NewCounter(prometheus.CounterOpts(opts("discovery_errors_total",
			"Scans of the local cluster's consumer groups that failed; the leases found before are kept."))),
		discovered: prometheus.NewGauge(prometheus.GaugeOpts(opts("discovered_leases",
			"Leases the discoverer publishes for the local consumer groups."))),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts(opts("publish_errors_total",
			"Writes of leases or tombstones to _mesh.interest that failed."))),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.leases, m.invalid, m.scans, m.scanErrors, m.discovered, m.publishErrors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("interest: registering metrics: %w", err)
			}
		}
	}
	return m, nil
}

// setLeases sets the leases gauge to the counts of active.
func (m *Metrics) setLeases(active []interest.Lease) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leases.Reset()
	for _, l := range active {
		m.leases.WithLabelValues(l.Site, l.Kind.String()).Inc()
	}
}

func (m *Metrics) addInvalid(n int64) {
	if m != nil && n > 0 {
		m.invalid.Add(float64(n))
	}
}

func (m *Metrics) scanned(err error, leases int) {
	if m == nil {
		return
	}
	m.scans.Inc()
	if err != nil {
		m.scanErrors.Inc()
		return
	}
	m.discovered.Set(float64(leases))
}

// PublishOption counts the failed writes of a Publisher in m (nil: not
// counted).
func (m *Metrics) PublishOption() interest.Option {
	if m == nil {
		return interest.CountFailures(nil)
	}
	return interest.CountFailures(m.publishErrors)
}
