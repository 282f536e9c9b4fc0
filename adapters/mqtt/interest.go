package mqtt

import (
	"context"
	"time"

	"github.com/meshwork/meshwork/interest"
)

// publishInterest leases the Kafka topics of the egress rules at the site
// (kind ADAPTER_EGRESS, source <client id>/<rule>), so that the site's
// replicator brings those topics' records from the other sites while the
// adapter runs. The publisher renews the leases until the adapter closes;
// they then expire, unless the adapter comes back first.
func (a *Adapter) publishInterest(ctx context.Context) {
	var leases []interest.Lease
	for _, r := range a.cfg.Egress {
		for _, t := range r.Topics {
			leases = append(leases, interest.Lease{Topic: t, Site: a.cfg.Site, Kind: interest.KindAdapterEgress,
				SourceID: a.cfg.Broker.ClientID + "/" + r.Name})
		}
	}
	for attempt := 1; ; attempt++ {
		err := a.interest.Set(ctx, leases)
		if err == nil || ctx.Err() != nil {
			return
		}
		a.log.Warn("mqtt egress: publishing interest failed; trying again", "error", err, "attempt", attempt)
		select {
		case <-time.After(backoff(attempt)):
		case <-ctx.Done():
			return
		}
	}
}
