package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// How the watcher notices a change. It is told by fsnotify, on the file's
// directory (editors and Kubernetes ConfigMaps and Secrets replace the
// file, by a rename or the swap of a symlink, which ends a watch on the
// file itself), and reads the file settle after the first event of a
// burst, so a file written in several steps is read whole. It also
// re-reads the file's metadata every poll: on filesystems that send no
// events (NFS, some container bind mounts) a change is in force within
// that interval, and a stat is cheap.
const (
	settle      = 100 * time.Millisecond
	defaultPoll = 2 * time.Second
)

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
	stat     fileStamp
	missing  bool // the file could not be read last time
	lastErr  error
	reloaded chan struct{}
}

// fileStamp is what the poll compares: a change of any of them is worth a
// read.
type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
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
	st := stamp(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	w.cur.Store(p)
	w.data, w.stat = data, st
	w.valid.Set(1)
	return w, nil
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
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

// Run follows the file until ctx ends. Without filesystem events (the
// directory cannot be watched), it still polls.
func (w *Watcher) Run(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !w.events {
		// polling only
	} else if fw, err := fsnotify.NewWatcher(); err != nil {
		w.log.Warn("policy: no filesystem events; polling the file", "file", w.path, "interval", w.poll, "error", err)
	} else {
		defer fw.Close()
		if err := fw.Add(filepath.Dir(w.path)); err != nil {
			w.log.Warn("policy: no filesystem events; polling the file", "file", w.path, "interval", w.poll, "error", err)
		} else {
			events, errs = fw.Events, fw.Errors
		}
	}
	poll := time.NewTicker(w.poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// The first event of a burst makes a read due; later ones do not push
	// it back, so a file written again and again is still read.
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
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			due() // any change in the directory may be the file's
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.log.Warn("policy: watch error; the file is read again", "file", w.path, "error", err)
			due()
		case <-poll.C:
			w.mu.Lock()
			changed := stamp(w.path) != w.stat
			w.mu.Unlock()
			if changed {
				due()
			}
		case <-timer.C:
			pending = false
			w.Reload()
		}
	}
}

// Reload reads the file now (Run calls it on a change): a valid new
// version comes into force at once, with an empty decision cache; an
// invalid or missing one is logged and counted, and the version in force
// stays.
func (w *Watcher) Reload() {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := stamp(w.path)
	data, err := os.ReadFile(w.path)
	w.stat = st
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
