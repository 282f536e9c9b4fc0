package amqp

import (
	"context"
	"log/slog"
	"time"
)

// maxIdleDoublings caps how far the watchdog's period grows while a queue
// stays empty: each link attached anew that gets nothing doubles it (up to
// 8 times the configured period), so an idle queue costs a link attach now
// and then rather than every period.
const maxIdleDoublings = 3

// stallProof is how soon after being attached anew a link must deliver
// for the old one to count as stalled rather than idle: a broker sends
// what its queue holds as soon as the new link gives it credit.
const stallProof = time.Second

// watchdog times one rule's receiver: it ends a receive that waited its
// period with credit out, so that the link is attached anew.
type watchdog struct {
	period     time.Duration // 0: off
	idleRounds int           // links attached anew in a row that got nothing
	attachedAt time.Time     // when the current link was attached anew; zero: it was not
}

// receiveContext bounds one receive by the watchdog's period.
func (w *watchdog) receiveContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if w.period <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, w.wait())
}

// wait is the period, doubled for each idle round.
func (w *watchdog) wait() time.Duration { return w.period << w.idleRounds }

// reattached records that a new link replaces one that got nothing: the
// new one waits twice as long, unless it delivers.
func (w *watchdog) reattached() {
	w.idleRounds = min(w.idleRounds+1, maxIdleDoublings)
	w.attachedAt = time.Now()
}

// delivered records a link's first message: the period starts over, and a
// link attached anew that delivers at once shows the old one had stalled.
func (w *watchdog) delivered(log *slog.Logger, m *linkMetrics, rule string) {
	if since := time.Since(w.attachedAt); !w.attachedAt.IsZero() && since < stallProof {
		m.stalls.WithLabelValues(rule).Inc()
		log.Warn("amqp: the receiver had stalled with credit out while its queue held messages; the link attached anew delivers",
			"rule", rule, "after", since.Round(time.Millisecond))
	}
	w.idleRounds, w.attachedAt = 0, time.Time{}
}
