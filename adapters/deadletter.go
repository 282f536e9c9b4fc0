package adapters

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/retry"
)

// DeadLetters hands what an adapter cannot deliver to the dead-letter
// topics, with the reason, trying until Kafka took it: only then may the
// original be acknowledged upstream or committed.
type DeadLetters struct {
	w         *dlq.Writer
	component string
	log       *slog.Logger
	m         *Metrics
}

// NewDeadLetters writes with cl (acks=all) as component, e.g.
// mqtt-adapter/east. With limits (nil: none known), a dead letter that
// cannot fit its topic is written as a reference at once (see dlq.Write).
func NewDeadLetters(cl *kgo.Client, limits *kafkaclient.Limits, component string, log *slog.Logger, m *Metrics) *DeadLetters {
	var opts []dlq.Option
	if limits != nil {
		opts = append(opts, dlq.Limits(limits))
	}
	return &DeadLetters{w: dlq.NewWriter(cl, opts...), component: component, log: log, m: m}
}

// Write dead-letters rec for f (its Component and Time filled in), retrying
// with backoff while Kafka does not take it; it returns nil once written,
// or ctx's error.
func (d *DeadLetters) Write(ctx context.Context, rec *kgo.Record, f dlq.Failure) error {
	f.Component = d.component
	return retry.Until(ctx, 5*time.Second, func() error {
		f.Time = time.Now()
		return d.w.Write(ctx, rec, f)
	}, func(err error, attempt int, wait time.Duration) {
		d.m.Retry("dlq")
		d.log.Warn("dead-letter write failed; trying again", "topic", f.Topic, "attempt", attempt, "in", wait, "error", err)
	})
}
