package filewatch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultSettle is how long after a first event the file is read.
const DefaultSettle = 100 * time.Millisecond

type options struct {
	settle, poll time.Duration
	events       bool
	log          *slog.Logger
}

// Option configures Follow.
type Option func(*options)

// WithSettle waits d after the first event of a burst (default DefaultSettle).
func WithSettle(d time.Duration) Option { return func(o *options) { o.settle = d } }

// WithPoll also compares the file's size and modification time every d
// (none by default).
func WithPoll(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithEvents turns the filesystem's events off (tests of the poll) or on
// (the default).
func WithEvents(on bool) Option { return func(o *options) { o.events = on } }

// WithLogger logs the watch's own trouble (no events to be had, a watch
// error) to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// stamp is what the poll compares.
type stamp struct {
	mod  time.Time
	size int64
	ok   bool
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
}

// Follow calls changed, on its own goroutine, each time the file at path
// may have changed, until ctx ends; and once at the start, for a change
// made between the caller's first reading and the watch. Without events
// (the directory cannot be watched) it relies on the poll, if any.
func Follow(ctx context.Context, path string, changed func(), opts ...Option) error {
	o := options{settle: DefaultSettle, events: true, log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if o.events {
		fw, err := fsnotify.NewWatcher()
		if err == nil {
			defer fw.Close()
			err = fw.Add(filepath.Dir(path))
		}
		if err != nil {
			o.log.Warn("no filesystem events for the file: it is only polled", "file", path, "poll", o.poll, "error", err)
		} else {
			events, errs = fw.Events, fw.Errors
		}
	}
	var pollC <-chan time.Time
	if o.poll > 0 {
		t := time.NewTicker(o.poll)
		defer t.Stop()
		pollC = t.C
	}
	last := stampOf(path)
	changed()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// The first event of a burst makes a call due; later ones do not push
	// it back, so a file written again and again is still read.
	pending := false
	due := func() {
		if !pending {
			pending = true
			timer.Reset(o.settle)
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
			o.log.Warn("file watch error; the file is read again", "file", path, "error", err)
			due()
		case <-pollC:
			if s := stampOf(path); s != last {
				last = s
				due()
			}
		case <-timer.C:
			pending = false
			last = stampOf(path)
			changed()
		}
	}
}
