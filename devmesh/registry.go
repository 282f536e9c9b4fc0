package devmesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/registry"
)

// siteRegistry is a site's schema registry and its HTTP server.
type siteRegistry struct {
	reg    *registry.Registry
	cancel context.CancelFunc
	done   chan error
}

// startRegistry runs the site's schema registry. The primary site's
// instance writes the schema log; the others read the primary's log
// directly (the replicator will carry it to them) and forward writes.
func (s *site) startRegistry(ctx context.Context, port int, primary *site, logger *slog.Logger, metrics prometheus.Registerer) error {
	ln, err := telemetry.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("dev mesh: site %s registry: %w", s.name, err)
	}
	url := "http://" + ln.Addr().String()
	cfg := registry.DefaultConfig()
	cfg.Site = s.name
	cfg.Listen = ln.Addr().String()
	cfg.AdvertisedURL = url
	cfg.Kafka.Brokers = []string{s.endpoints.Kafka}
	cfg.WriteTimeout = 10 * time.Second
	if primary != nil {
		pk := kafkaclient.Defaults()
		pk.Brokers = []string{primary.endpoints.Kafka}
		cfg.Primary = &registry.Primary{URL: primary.endpoints.Registry, Kafka: &pk}
	}
	reg, err := registry.New(cfg, logger.With("service", "registry"), metrics)
	if err != nil {
		ln.Close()
		return fmt.Errorf("dev mesh: site %s registry: %w", s.name, err)
	}
	if err := reg.Start(ctx); err != nil {
		ln.Close()
		_ = reg.Close(ctx)
		return fmt.Errorf("dev mesh: site %s registry: %w", s.name, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.registry = &siteRegistry{reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { s.registry.done <- telemetry.ServeHTTP(sctx, ln, reg.Handler(), logger) }()
	s.endpoints.Registry = url
	return nil
}

func (s *site) registryReady(ctx context.Context) error {
	if err := s.registry.reg.Ready(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoints.Registry+"/subjects", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /subjects: %s", resp.Status)
	}
	return nil
}

func (r *siteRegistry) close() error {
	r.cancel()
	err := <-r.done
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(err, r.reg.Close(ctx))
}
