package policy

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/filewatch"
)

// Watcher holds the policy in force, read from its file, and reads the
// file again when it changes. A new version that does not parse is
// logged and counted (meshwork_policy_reload_errors_total), and the last
// valid version stays in force: a typo never opens, nor closes, the mesh.
// A reload starts with an empty decision cache (a new Policy).
type Watcher struct {
	v *filewatch.Versioned[Policy]
}

// WatcherOption configures a Watcher.
type WatcherOption func(*filewatch.Options)

// WithLogger logs reloads and invalid versions to l.
func WithLogger(l *slog.Logger) WatcherOption { return func(o *filewatch.Options) { o.Logger = l } }

// WithMetrics registers the watcher's metrics with reg:
// meshwork_policy_reloads_total{result="ok|invalid"},
// meshwork_policy_reload_errors_total and meshwork_policy_valid (0 while
// the file on disk is invalid and an older version is in force).
func WithMetrics(reg prometheus.Registerer) WatcherOption {
	return func(o *filewatch.Options) { o.Metrics = reg }
}

// WithPollInterval sets how often the file's metadata is checked besides
// the filesystem's events (default 2s).
func WithPollInterval(d time.Duration) WatcherOption {
	return func(o *filewatch.Options) { o.Poll = d }
}

// policyFile is what the watcher follows.
func policyFile() filewatch.Kind[Policy] {
	return filewatch.Kind[Policy]{
		Name:      "policy file",
		Subsystem: "policy",
		Parse:     Parse,
		Summary:   func(p *Policy) []any { return []any{"rules", len(p.rules), "deny_rules", len(p.deny)} },
	}
}

// NewWatcher reads the policy file at path, which must be valid: a
// service must not start with a policy it cannot read. Run follows it.
func NewWatcher(path string, opts ...WatcherOption) (*Watcher, error) {
	var o filewatch.Options
	for _, opt := range opts {
		opt(&o)
	}
	v, err := filewatch.NewVersioned(path, policyFile(), o)
	if err != nil {
		return nil, err
	}
	return &Watcher{v: v}, nil
}

// Policy returns the policy in force: the last valid version read.
func (w *Watcher) Policy() *Policy { return w.v.Current() }

// Path is the file followed.
func (w *Watcher) Path() string { return w.v.Path() }

// Err returns why the file on disk is not in force, or nil when it is.
func (w *Watcher) Err() error { return w.v.Err() }

// Reloaded receives a value after each reading of a changed file, valid
// or not (one value for several not yet received).
func (w *Watcher) Reloaded() <-chan struct{} { return w.v.Reads() }

// Run follows the file until ctx ends (package internal/filewatch: the
// directory's events, and the poll).
func (w *Watcher) Run(ctx context.Context) error { return w.v.Run(ctx) }
