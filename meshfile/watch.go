package meshfile

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/filewatch"
)

// Watcher follows a mesh file and reloads it when it changes. A new
// version that is invalid is logged and counted, and the last valid one
// stays in force, so a typo never takes the mesh's topology away.
type Watcher struct {
	v *filewatch.Versioned[Mesh]
}

// WatcherOption configures a Watcher.
type WatcherOption func(*filewatch.Options)

// WithLogger logs reloads and invalid versions to l.
func WithLogger(l *slog.Logger) WatcherOption { return func(o *filewatch.Options) { o.Logger = l } }

// WithMetrics registers the watcher's metrics with reg:
// meshwork_meshfile_reloads_total{result="ok|invalid"},
// meshwork_meshfile_reload_errors_total and meshwork_meshfile_valid (0
// while the file on disk is invalid and an older version is in force).
func WithMetrics(reg prometheus.Registerer) WatcherOption {
	return func(o *filewatch.Options) { o.Metrics = reg }
}

// meshFile is what the watcher follows.
func meshFile() filewatch.Kind[Mesh] {
	return filewatch.Kind[Mesh]{
		Name:      "mesh file",
		Subsystem: "meshfile",
		Parse:     Parse,
		Summary:   func(m *Mesh) []any { return []any{"sites", m.SiteNames(), "links", m.Links} },
	}
}

// NewWatcher loads the file at path, which must be valid, for Run to
// follow. Secrets written inline in it are warned about.
func NewWatcher(path string, opts ...WatcherOption) (*Watcher, error) {
	var o filewatch.Options
	for _, opt := range opts {
		opt(&o)
	}
	v, err := filewatch.NewVersioned(path, meshFile(), o)
	if err != nil {
		return nil, err
	}
	if o.Logger != nil {
		for _, field := range config.InlineSecrets(v.Current()) {
			o.Logger.Warn("mesh file: a secret is written inline; move it to a file (the field's _file form) or an environment variable (_env)", "file", path, "field", field)
		}
	}
	return &Watcher{v: v}, nil
}

// Mesh returns the version in force: the last valid one read.
func (w *Watcher) Mesh() *Mesh { return w.v.Current() }

// Err returns why the file on disk is not in force (it is invalid or
// unreadable), or nil when it is.
func (w *Watcher) Err() error { return w.v.Err() }

// Path is the file watched.
func (w *Watcher) Path() string { return w.v.Path() }

// Changes receives a value after each new valid version is in force (one
// value for several changes not yet received).
func (w *Watcher) Changes() <-chan struct{} { return w.v.Changes() }

// Run follows the file until ctx ends (package internal/filewatch: the
// directory's events, and a poll of its size and modification time for
// filesystems that send none).
func (w *Watcher) Run(ctx context.Context) error { return w.v.Run(ctx) }
