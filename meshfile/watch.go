package meshfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/filewatch"
)

// poll is how often the file's size and modification time are compared,
// besides the filesystem's events.
const poll = 2 * time.Second

// Watcher follows a mesh file and reloads it when it changes. A new
// version that is invalid is logged and counted, and the last valid one
// stays in force, so a typo never takes the mesh's topology away.
type Watcher struct {
	path    string
	log     *slog.Logger
	reloads *prometheus.CounterVec
	valid   prometheus.Gauge

	mu      sync.Mutex
	mesh    *Mesh
	data    []byte // of the file as last read, valid or not
	lastErr error  // why the file as last read is not in force; nil if it is
	changes chan struct{}
}

// WatcherOption configures a Watcher.
type WatcherOption func(*Watcher)

// WithLogger logs reloads and invalid versions to l.
func WithLogger(l *slog.Logger) WatcherOption { return func(w *Watcher) { w.log = l } }

// WithMetrics registers the watcher's metrics with reg:
// meshwork_meshfile_reloads_total{result="ok|invalid"} and
// meshwork_meshfile_valid (0 while the file on disk is invalid and an older
// version is in force).
func WithMetrics(reg prometheus.Registerer) WatcherOption {
	return func(w *Watcher) {
		reg.MustRegister(w.reloads, w.valid)
	}
}

// NewWatcher loads the file at path, which must be valid, for Run to
// follow.
func NewWatcher(path string, opts ...WatcherOption) (*Watcher, error) {
	w := &Watcher{
		path: path,
		log:  slog.New(slog.DiscardHandler),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "meshfile", Name: "reloads_total",
			Help: "Versions of the mesh file read after a change, by result: ok (now in force) or invalid (the last valid version stays)."}, []string{"result"}),
		valid: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "meshfile", Name: "valid",
			Help: "1 when the mesh file on disk is valid and in force; 0 when it is invalid and the last valid version stays in force."}),
		changes: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(w)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mesh file: %w", err)
	}
	m, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	w.mesh, w.data = m, data
	w.valid.Set(1)
	for _, field := range config.InlineSecrets(m) {
		w.log.Warn("mesh file: a secret is written inline; move it to a file (the field's _file form) or an environment variable (_env)", "file", path, "field", field)
	}
	return w, nil
}

// Mesh returns the version in force: the last valid one read.
func (w *Watcher) Mesh() *Mesh {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mesh
}

// Err returns why the file on disk is not in force (it is invalid or
// unreadable), or nil when it is.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Path is the file watched.
func (w *Watcher) Path() string { return w.path }

// Changes receives a value after each new valid version is in force (one
// value for several changes not yet received).
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Run follows the file until ctx ends (package internal/filewatch: the
// directory's events, and a poll of its size and modification time for
// filesystems that send none).
func (w *Watcher) Run(ctx context.Context) error {
	return filewatch.Follow(ctx, w.path, w.Reload, filewatch.WithPoll(poll), filewatch.WithLogger(w.log))
}

// Reload reads the file now; Run calls it after each change. A valid new
// version comes into force; an invalid one is logged and counted.
func (w *Watcher) Reload() {
	data, err := os.ReadFile(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && bytes.Equal(data, w.data) {
		return
	}
	w.data = data
	var m *Mesh
	if err == nil {
		m, err = Parse(w.path, data)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("mesh file %s is gone: %w", w.path, err)
		}
		w.lastErr = err
		w.reloads.WithLabelValues("invalid").Inc()
		w.valid.Set(0)
		w.log.Error("mesh file: the new version is invalid; the last valid one stays in force until it is fixed", "file", w.path, "error", err)
		return
	}
	w.mesh, w.lastErr = m, nil
	w.reloads.WithLabelValues("ok").Inc()
	w.valid.Set(1)
	w.log.Info("mesh file: reloaded", "file", w.path, "sites", m.SiteNames(), "links", m.Links)
	select {
	case w.changes <- struct{}{}:
	default:
	}
}
