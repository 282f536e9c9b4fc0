// Command mesh-registry runs one instance of Meshwork's schema registry, an
// HTTP API compatible with Confluent Schema Registry that stores schemas in
// Kafka:
//
//	mesh-registry -config registry.yaml
//
// It serves the API, /metrics, /healthz and /readyz on the configured
// listen address, and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"io"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/registry"
)

func main() { service.Main("mesh-registry", run) }

func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg := registry.DefaultConfig()
	if err := config.FromFlags("mesh-registry", args, stderr, &cfg); err != nil {
		return err
	}
	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		return err
	}
	logger = logger.With("service", "registry", "site", cfg.Site)
	ln, err := telemetry.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	metrics := telemetry.NewRegistry()
	reg, err := registry.New(ctx, cfg, logger, metrics)
	if err != nil {
		return err
	}
	defer reg.Close()
	srv := telemetry.NewServer(metrics, logger)
	srv.AddCheck("schemas", reg.Ready)
	srv.Handle("/", reg.Handler())
	logger.Info("serving", "listen", ln.Addr().String())
	return srv.Serve(ctx, ln)
}
