package meshfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/config"
)

// settle is how long the watcher waits after a change for more changes
// before it reads the file: an editor or a ConfigMap update writes in
// several steps (truncate and write, or rename over), and a read in
// between would see half a file.
const settle = 100 * time.Millisecond

// Watcher follows a mesh file and reloads it when it changes. A new
// version that is invalid is logged and counted, and the last valid one
// stays in force, so a typo never takes the mesh's topology away.
//
// It watches the file's directory, not the file: editors and Kubernetes
// ConfigMaps replace the file (rename over it, swap a symlink), which ends
// a watch on the file itself.
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

// Run follows the file until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("mesh file: watching %s: %w", w.path, err)
	}
	defer fw.Close()
	if err := fw.Add(filepath.Dir(w.path)); err != nil {
		return fmt.Errorf("mesh file: watching %s: %w", w.path, err)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// pending: a read is due when the timer fires. The first change of a
	// burst sets it, later ones do not push it back, so that a file
	// written again and again is still read every settle.
	pending := false
	due := func() {
		if !pending {
			pending = true
			timer.Reset(settle)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-fw.Events:
			if !ok {
				return nil
			}
			// Any change in the directory may be the file's: a rename
			// over it, or the swap of a symlink on its way (ConfigMaps).
			// Reading an unchanged file costs little and changes nothing.
			due()
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.log.Warn("mesh file: watch error; the file is read again", "file", w.path, "error", err)
			due()
		case <-timer.C:
			pending = false
			w.Reload()
		}
	}
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
