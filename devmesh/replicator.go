package devmesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/replicator"
)

// siteReplicator is a site's replicator, running until cancelled.
type siteReplicator struct {
	rep *replicator.Replicator
}

// startReplicator runs the site's replicator: it copies into the site the
// topics consumer groups there read (discovered every few seconds, leases
// with a short lease, so a deleted group's flow stops soon), from every
// other site, and the primary's schema log.
func (s *site) startReplicator(ctx context.Context, sites []*site, primary string, ttl time.Duration, logger *slog.Logger, metrics prometheus.Registerer) error {
	cfg := replicator.DefaultConfig()
	cfg.Site = s.name
	cfg.Listen = "127.0.0.1:0" // served by the dev mesh's admin server
	for _, o := range sites {
		kc := kafkaclient.Defaults()
		kc.Brokers = []string{o.endpoints.Kafka}
		cfg.Sites = append(cfg.Sites, replicator.Site{Name: o.name, Kafka: kc})
	}
	cfg.SchemasPrimary = primary
	cfg.Interest.DiscoveryInterval = min(2*time.Second, ttl/3)
	cfg.Interest.LeaseTTL = ttl
	cfg.Flow.PlanInterval = 2 * time.Second
	cfg.Flow.FetchMaxWait = 50 * time.Millisecond
	cfg.Kafka.Brokers = []string{s.endpoints.Kafka}
	rep, err := replicator.New(cfg, logger.With("service", "replicator"), metrics)
	if err != nil {
		return fmt.Errorf("dev mesh: site %s replicator: %w", s.name, err)
	}
	if err := rep.Start(ctx); err != nil {
		return fmt.Errorf("dev mesh: site %s replicator: %w", s.name, err)
	}
	s.replicator = &siteReplicator{rep: rep}
	return nil
}

func (s *site) replicatorReady(ctx context.Context) error {
	if s.replicator == nil {
		return errors.New("replicator not started")
	}
	return s.replicator.rep.Ready(ctx)
}

func (s *site) closeReplicator() error {
	if s.replicator == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.replicator.rep.Close(ctx)
	s.replicator = nil
	if err != nil {
		return fmt.Errorf("dev mesh: site %s replicator: %w", s.name, err)
	}
	return nil
}
