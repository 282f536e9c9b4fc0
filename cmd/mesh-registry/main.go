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
	"errors"
	"io"
	"time"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/registry"
)

// shutdownTimeout bounds the graceful stop: the write in progress and
// leaving the election group, so that another instance takes over at once.
const shutdownTimeout = 10 * time.Second

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
	reg, err := registry.New(cfg, logger, metrics)
	if err != nil {
		return err
	}
	closeReg := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		return reg.Close(sctx)
	}
	if err := reg.Start(ctx); err != nil {
		return errors.Join(err, closeReg())
	}
	srv := telemetry.NewServer(metrics, logger)
	srv.AddCheck("schemas", reg.Ready)
	srv.Handle("/", reg.Handler())
	logger.Info("serving", "listen", ln.Addr().String())
	serveErr := srv.Serve(ctx, ln)

	logger.Info("stopping: finishing the write in progress")
	return errors.Join(serveErr, closeReg())
}
