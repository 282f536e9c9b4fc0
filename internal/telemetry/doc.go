// Package telemetry gives every service the same observability surface: a
// structured slog logger, a Prometheus registry, and an HTTP server with
// /metrics, /healthz (the process is alive) and /readyz (its dependencies
// answer), so operators and orchestrators see every service the same way.
package telemetry
