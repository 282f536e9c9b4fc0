package trace

import (
	"errors"
	"time"

	"github.com/meshwork/meshwork/internal/config"
)

// Config is a component's tracing: the `trace` block of its configuration.
type Config struct {
	// SampleRate is the fraction of events whose hops are recorded, from
	// 0 (none: tracing off) to 1 (every event). The decision is the same
	// in every component (see Sampled).
	SampleRate float64 `yaml:"sample_rate"`
	// QueueSize bounds the hops waiting to be written; when it is full,
	// further hops are dropped and counted
	// (meshwork_trace_hops_total{result="dropped"}), never waited for.
	QueueSize int `yaml:"queue_size"`
	// MaxBatch is the most hops one record of _mesh.trace carries.
	MaxBatch int `yaml:"max_batch"`
	// FlushInterval is the longest a hop waits for its batch to fill.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Retention is the retention.ms of _mesh.trace when a component
	// creates it; the control plane's index keeps hops as long.
	Retention time.Duration `yaml:"retention"`
	// Partitions of _mesh.trace when a component creates it.
	Partitions int32 `yaml:"partitions"`
}

// DefaultConfig is the tracing of a component unless configured.
func DefaultConfig() Config {
	return Config{
		SampleRate:    DefaultSampleRate,
		QueueSize:     10000,
		MaxBatch:      500,
		FlushInterval: 200 * time.Millisecond,
		Retention:     7 * 24 * time.Hour,
		Partitions:    3,
	}
}

// Validate checks c; field paths are relative to the block.
func (c Config) Validate() error {
	var errs []error
	if c.SampleRate < 0 || c.SampleRate > 1 {
		errs = append(errs, config.Errorf("sample_rate", "want a fraction from 0 (off) to 1 (every event), got %g", c.SampleRate))
	}
	if c.QueueSize < 1 {
		errs = append(errs, config.Errorf("queue_size", "want at least 1, got %d", c.QueueSize))
	}
	if c.MaxBatch < 1 || c.MaxBatch > MaxHopsPerRecord {
		errs = append(errs, config.Errorf("max_batch", "want 1 to %d, got %d", MaxHopsPerRecord, c.MaxBatch))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, config.Errorf("flush_interval", "want a positive duration, like 200ms"))
	}
	if c.Retention < time.Minute {
		errs = append(errs, config.Errorf("retention", "want at least 1m, got %s", c.Retention))
	}
	if c.Partitions < 1 {
		errs = append(errs, config.Errorf("partitions", "want at least 1, got %d", c.Partitions))
	}
	return errors.Join(errs...)
}
