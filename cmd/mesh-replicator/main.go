// Command mesh-replicator runs the replicator of one site: it copies into
// that site's Kafka cluster the records of the topics something there (or
// at a site it serves) consumes, from the other sites' clusters, exactly
// once by default:
//
//	mesh-replicator -config replicator.yaml
//
// It serves /metrics, /healthz and /readyz on the configured listen
// address, and stops gracefully on SIGINT or SIGTERM (open transactions are
// finished or aborted; copying resumes from the committed checkpoints).
package main

import (
	"context"
	"errors"
	"io"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/replicator"
)

func main() { service.Main("mesh-replicator", run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := replicator.DefaultConfig()
	if err := config.FromFlags("mesh-replicator", args, stderr, &cfg); err != nil {
		return err
	}
	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		return err
	}
	logger = logger.With("service", "replicator", "site", cfg.Site)
	ln, err := telemetry.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	metrics := telemetry.NewRegistry()
	rep, err := replicator.New(cfg, logger, metrics)
	if err != nil {
		return err
	}
	srv := telemetry.NewServer(metrics, logger)
	srv.AddCheck("replicator", rep.Ready)
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	logger.Info("replicating", "listen", ln.Addr().String(), "mode", cfg.Mode)
	err = rep.Run(ctx)
	cancel()
	return errors.Join(err, <-served)
}
