// Command mesh-mqtt runs Meshwork's MQTT adapter, which bridges a site's
// MQTT broker and its Kafka cluster in both directions:
//
//	mesh-mqtt -config mqtt.yaml
//
// It serves /metrics, /healthz and /readyz on the configured listen address
// (ready while the broker session is up with its subscriptions and Kafka
// answers), and on SIGINT or SIGTERM stops taking messages, waits for those
// in flight, commits and closes.
package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// shutdownTimeout bounds the graceful stop; what is still in flight then is
// redelivered by the broker or Kafka.
const shutdownTimeout = 20 * time.Second

func main() { service.Main("mesh-mqtt", run) }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := mqtt.DefaultConfig()
	if err := config.FromFlags("mesh-mqtt", args, stderr, &cfg); err != nil {
		return err
	}
	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		return err
	}
	logger = logger.With("service", "mqtt", "site", cfg.Site)
	ln, err := telemetry.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	metrics := telemetry.NewRegistry()
	a, err := mqtt.New(cfg, logger, metrics)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	srv := telemetry.NewServer(metrics, logger)
	srv.AddCheck("mqtt-adapter", a.Ready)
	logger.Info("serving", "listen", ln.Addr().String(), "broker", cfg.Broker.URL)
	serveErr := srv.Serve(ctx, ln)

	logger.Info("stopping: finishing messages in flight")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, a.Close(sctx))
}
