package policy

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

	"github.com/meshwork/meshwork/internal/filewatch"
)

// defaultPoll is how often the file's size and modification time are
// compared, besides the filesystem's events: on filesystems that send none
// (NFS, some container mounts) a change is in force within it, and a stat
// is cheap.
const defaultPoll = 2 * time.Second

// Watcher holds the policy in force, read from its file, and reads the
// file again when it changes. A new version that does not parse is
// logged and counted (meshwork_policy_reload_errors_total), and the last
// valid version stays in force: a typo never opens, nor closes, the mesh.
type Watcher struct {
	path    string
	log     *slog.Logger
	poll    time.Duration
	events  bool // follow filesystem events (tests turn them off to prove the poll)
	cur     atomic.Pointer[Policy]
	reloads *prometheus.CounterVec
	errs    prometheus.Counter
	valid   prometheus.Gauge

	mu       sync.Mutex // serializes reloads
	data     []byte     // the file as last read, valid or not
	missing  bool       // the file could not be read last time
	lastErr  error
	reloaded chan struct{}
}

// WatcherOption configures a Watcher.
type WatcherOption func(*Watcher)

// WithLogger logs reloads and invalid versions to l.
func WithLogger(l *slog.Logger) WatcherOption { return func(w *Watcher) { w.log = l } }

// WithMetrics registers the watcher's metrics with reg:
// meshwork_policy_reloads_total{result="ok|invalid"},
// meshwork_policy_reload_errors_total and meshwork_policy_valid (0 while
// the file on disk is invalid and an older version is in force).
func WithMetrics(reg prometheus.Registerer) WatcherOption {
	return func(w *Watcher) { reg.MustRegister(w.reloads, w.errs, w.valid) }
}

// WithPollInterval sets how often the file's metadata is checked besides
// the filesystem's events (default 2s).
func WithPollInterval(d time.Duration) WatcherOption { return func(w *Watcher) { w.poll = d } }

// NewWatcher reads the policy file at path, which must be valid: a
// service must not start with a policy it cannot read. Run follows it.
func NewWatcher(path string, opts ...WatcherOption) (*Watcher, error) {
	w := &Watcher{
		path: path,
		log:  slog.New(slog.DiscardHandler),
		poll: defaultPoll, events: true,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "policy", Name: "reloads_total",
			Help: "Versions of the policy file read after a change, by result: ok (now in force) or invalid (the last valid version stays)."}, []string{"result"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "policy", Name: "reload_errors_total",
			Help: "Versions of the policy file that could not be read or parsed; the last valid version stayed in force."}),
		valid: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "policy", Name: "valid",
			Help: "1 when the policy file on disk is valid and in force; 0 when it is not and the last valid version stays in force."}),
		reloaded: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(w)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	w.cur.Store(p)
	w.data = data
	w.valid.Set(1)
	return w, nil
}

// Policy returns the policy in force: the last valid version read.
func (w *Watcher) Policy() *Policy { return w.cur.Load() }

// Path is the file followed.
func (w *Watcher) Path() string { return w.path }

// Err returns why the file on disk is not in force, or nil when it is.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Reloaded receives a value after each reading of a changed file, valid
// or not (one value for several not yet received).
func (w *Watcher) Reloaded() <-chan struct{} { return w.reloaded }

// Run follows the file until ctx ends (package internal/filewatch: the
// directory's events, and the poll).
func (w *Watcher) Run(ctx context.Context) error {
	return filewatch.Follow(ctx, w.path, w.Reload, filewatch.WithPoll(w.poll), filewatch.WithEvents(w.events), filewatch.WithLogger(w.log))
}

// Reload reads the file now (Run calls it on a change): a valid new
// version comes into force at once, with an empty decision cache; an
// invalid or missing one is logged and counted, and the version in force
// stays.
func (w *Watcher) Reload() {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := os.ReadFile(w.path)
	if err == nil && !w.missing && bytes.Equal(data, w.data) || err != nil && w.missing {
		return // nothing new: the same bytes, or still unreadable
	}
	w.missing = err != nil
	defer func() {
		select {
		case w.reloaded <- struct{}{}:
		default:
		}
	}()
	w.data = data
	var p *Policy
	if err == nil {
		p, err = Parse(w.path, data)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("policy file %s is gone: %w", w.path, err)
		}
		w.lastErr = err
		w.reloads.WithLabelValues("invalid").Inc()
		w.errs.Inc()
		w.valid.Set(0)
		w.log.Error("policy: the new version is invalid; the last valid one stays in force until it is fixed", "file", w.path, "error", err)
		return
	}
	w.cur.Store(p)
	w.lastErr = nil
	w.reloads.WithLabelValues("ok").Inc()
	w.valid.Set(1)
	w.log.Info("policy: reloaded", "file", w.path, "rules", len(p.rules), "deny_rules", len(p.deny))
}
