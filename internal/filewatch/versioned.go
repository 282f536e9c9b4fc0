package filewatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind says what a Versioned file holds and how to read it.
type Kind[T any] struct {
	// Name names the file in logs and errors: "policy file", "mesh file".
	Name string
	// Subsystem names its metrics: meshwork_<subsystem>_reloads_total,
	// _reload_errors_total and _valid.
	Subsystem string
	// Parse reads one version; its errors name the file, line and field.
	Parse func(path string, data []byte) (*T, error)
	// Summary is what the log says of a version that came into force.
	Summary func(*T) []any
}

// Options configures a Versioned file.
type Options struct {
	// Logger takes reloads and invalid versions (discarded when nil).
	Logger *slog.Logger
	// Metrics takes the reload metrics (none when nil).
	Metrics prometheus.Registerer
	// Poll is how often the file's size and modification time are
	// compared besides the filesystem's events (default 2s).
	Poll time.Duration
	// PollOnly ignores the filesystem's events (tests of the poll).
	PollOnly bool
}

// DefaultPoll is the default Options.Poll: on filesystems that send no
// events (NFS, some container mounts) a change is in force within it, and
// a stat is cheap.
const DefaultPoll = 2 * time.Second

// Versioned holds the version in force of a file that a running service
// follows (the mesh file, the security policy), and reads the file again
// when it changes (Run). A new version that does not parse, or a file gone,
// is logged and counted, and the last valid version stays in force: a
// typo never takes effect half-way, nor takes the service's configuration
// away. Reading the version in force takes no lock.
type Versioned[T any] struct {
	path string
	kind Kind[T]
	o    Options
	cur  atomic.Pointer[T]

	reloads *prometheus.CounterVec
	errs    prometheus.Counter
	valid   prometheus.Gauge

	mu      sync.Mutex // serializes readings
	data    []byte     // the file as last read, valid or not
	missing bool       // the file could not be read last time
	lastErr error
	changes chan struct{} // a new valid version is in force
	reads   chan struct{} // a changed file was read, valid or not
}

// NewVersioned reads the file at path, which must be valid: a service must
// not start with a file it cannot read. Run follows it.
func NewVersioned[T any](path string, kind Kind[T], o Options) (*Versioned[T], error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	sub := kind.Subsystem
	v := &Versioned[T]{
		path: path, kind: kind, o: o,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: sub, Name: "reloads_total",
			Help: "Versions of the " + kind.Name + " read after a change, by result: ok (now in force) or invalid (the last valid version stays)."}, []string{"result"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: sub, Name: "reload_errors_total",
			Help: "Versions of the " + kind.Name + " that could not be read or parsed; the last valid version stayed in force."}),
		valid: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: sub, Name: "valid",
			Help: "1 when the " + kind.Name + " on disk is valid and in force; 0 when it is not and the last valid version stays in force."}),
		changes: make(chan struct{}, 1),
		reads:   make(chan struct{}, 1),
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind.Name, err)
	}
	t, err := kind.Parse(path, data)
	if err != nil {
		return nil, err
	}
	if o.Metrics != nil {
		o.Metrics.MustRegister(v.reloads, v.errs, v.valid)
	}
	v.cur.Store(t)
	v.data = data
	v.valid.Set(1)
	return v, nil
}

// Current returns the version in force: the last valid one read.
func (v *Versioned[T]) Current() *T { return v.cur.Load() }

// Path is the file followed.
func (v *Versioned[T]) Path() string { return v.path }

// Err returns why the file on disk is not in force (invalid or
// unreadable), or nil when it is.
func (v *Versioned[T]) Err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastErr
}

// Changes receives a value after each new valid version comes into force
// (one value for several not yet received).
func (v *Versioned[T]) Changes() <-chan struct{} { return v.changes }

// Reads receives a value after each reading of a changed file, valid or
// not (one value for several not yet received).
func (v *Versioned[T]) Reads() <-chan struct{} { return v.reads }

// Run follows the file until ctx ends (see Follow: the directory's events,
// and the poll).
func (v *Versioned[T]) Run(ctx context.Context) error {
	return Follow(ctx, v.path, v.Reload, WithPoll(v.o.Poll), WithEvents(!v.o.PollOnly), WithLogger(v.o.Logger))
}

// Reload reads the file now (Run calls it on a change): a valid new version
// comes into force at once; an invalid or missing one is logged and
// counted, and the version in force stays.
func (v *Versioned[T]) Reload() {
	v.mu.Lock()
	defer v.mu.Unlock()
	data, err := os.ReadFile(v.path)
	if err == nil && !v.missing && bytes.Equal(data, v.data) || err != nil && v.missing {
		return // nothing new: the same bytes, or still unreadable
	}
	v.missing = err != nil
	defer signal(v.reads)
	v.data = data
	var t *T
	if err == nil {
		t, err = v.kind.Parse(v.path, data)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%s %s is gone: %w", v.kind.Name, v.path, err)
		}
		v.lastErr = err
		v.reloads.WithLabelValues("invalid").Inc()
		v.errs.Inc()
		v.valid.Set(0)
		v.o.Logger.Error(v.kind.Name+": the new version is invalid; the last valid one stays in force until it is fixed", "file", v.path, "error", err)
		return
	}
	v.cur.Store(t)
	v.lastErr = nil
	v.reloads.WithLabelValues("ok").Inc()
	v.valid.Set(1)
	attrs := []any{"file", v.path}
	if v.kind.Summary != nil {
		attrs = append(attrs, v.kind.Summary(t)...)
	}
	v.o.Logger.Info(v.kind.Name+": reloaded", attrs...)
	signal(v.changes)
}

// signal sends on a channel of one slot without waiting.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
