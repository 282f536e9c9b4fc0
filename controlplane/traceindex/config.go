package traceindex

import (
	"errors"
	"time"

	"github.com/meshwork/meshwork/internal/config"
)

// Config is the index's configuration: the `trace_index` block of the
// control plane's.
type Config struct {
	// Dir is the index's directory; created when missing. An index whose
	// directory is lost is rebuilt from _mesh.trace.
	Dir string `yaml:"dir"`
	// Retention is how long hops are kept: that of _mesh.trace.
	Retention time.Duration `yaml:"retention"`
	// Bucket is the width of the time buckets hops are kept in: old
	// hops are dropped a bucket at a time, and a lookup reads each
	// bucket of the retention once (retention/bucket of them).
	Bucket time.Duration `yaml:"bucket"`
	// CacheBytes bounds the store's block cache; MemTableBytes its
	// write buffer (twice that, at most, is held while one is flushed).
	CacheBytes    int64  `yaml:"cache_bytes"`
	MemTableBytes uint64 `yaml:"memtable_bytes"`
	// MaxHops bounds the hops one answer carries.
	MaxHops int `yaml:"max_hops"`
}

// DefaultConfig is the index's configuration unless configured.
func DefaultConfig() Config {
	return Config{
		Dir:           "traceindex",
		Retention:     7 * 24 * time.Hour,
		Bucket:        6 * time.Hour,
		CacheBytes:    64 << 20,
		MemTableBytes: 16 << 20,
		MaxHops:       10000,
	}
}

// Validate checks c; field paths are relative to the block.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, config.Errorf("dir", "want the index's directory"))
	}
	if c.Bucket < time.Minute {
		errs = append(errs, config.Errorf("bucket", "want at least 1m, got %s", c.Bucket))
	}
	if c.Retention < c.Bucket {
		errs = append(errs, config.Errorf("retention", "want at least one bucket (%s), got %s", c.Bucket, c.Retention))
	} else if c.Bucket > 0 && c.Retention/c.Bucket > 1000 {
		errs = append(errs, config.Errorf("bucket", "%s makes %d buckets of the retention %s, at most 1000: a lookup reads each", c.Bucket, c.Retention/c.Bucket, c.Retention))
	}
	if c.CacheBytes < 1<<20 {
		errs = append(errs, config.Errorf("cache_bytes", "want at least 1 MiB, got %d", c.CacheBytes))
	}
	if c.MemTableBytes < 1<<20 || c.MemTableBytes >= 4<<30 {
		errs = append(errs, config.Errorf("memtable_bytes", "want 1 MiB to 4 GiB, got %d", c.MemTableBytes))
	}
	if c.MaxHops < 1 {
		errs = append(errs, config.Errorf("max_hops", "want at least 1, got %d", c.MaxHops))
	}
	return errors.Join(errs...)
}
