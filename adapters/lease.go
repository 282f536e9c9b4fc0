package adapters

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/retry"
)

// LeaseTopics makes the Kafka topics an adapter's egress reads interest of
// its site (kind ADAPTER_EGRESS, source <owner>/<rule>), so that the site's
// replicator brings those topics' records from the other sites while the
// adapter runs. topics maps each rule's name to its topics. It writes the
// leases (waiting out a Kafka that does not answer), renews them until ctx
// ends, then stops renewing: they expire unless the adapter returns first.
func LeaseTopics(ctx context.Context, cl *kgo.Client, site, owner string, topics map[string][]string, log *slog.Logger) error {
	var leases []interest.Lease
	for rule, ts := range topics {
		for _, t := range ts {
			leases = append(leases, interest.Lease{Topic: t, Site: site, Kind: interest.KindAdapterEgress, SourceID: owner + "/" + rule})
		}
	}
	p, err := interest.NewPublisher(cl, site, interest.Logger(log))
	if err != nil {
		return fmt.Errorf("egress interest: %w", err)
	}
	// Tries until the leases are written, or ctx ends.
	_ = retry.Until(ctx, 10*time.Second, func() error { return p.Set(ctx, leases) },
		func(err error, attempt int, wait time.Duration) {
			log.Warn("publishing egress interest failed; trying again", "attempt", attempt, "in", wait, "error", err)
		})
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return p.Close(cctx)
}
