package service

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/policy"
)

// Service is one long-running part of the mesh, as its command, the dev
// mesh and tests drive it: build it with its constructor (which checks its
// configuration and does no I/O), Start it once, ask Ready as often as
// needed, Close it once.
type Service interface {
	// Start begins the work and returns once it is under way, or why it
	// could not start. ctx bounds only the start: the work goes on until
	// Close.
	Start(ctx context.Context) error
	// Ready returns nil while the service does its job, else what keeps
	// it from it; /readyz reports it.
	Ready(ctx context.Context) error
	// Close stops the work gracefully, finishing what is in flight at
	// most until ctx ends, and waits for everything the service started.
	// It may be called once, after Start (successful or not) or instead of
	// it.
	Close(ctx context.Context) error
}

// HTTPService is a Service with an HTTP API of its own (the schema
// registry, the REST adapter). Run mounts it at / on the listen address,
// beside /metrics, /healthz and /readyz.
type HTTPService interface {
	Service
	Handler() http.Handler
}

// Deps is what a service's constructor gets from whoever runs it: the
// command (Run) or the dev mesh.
type Deps struct {
	// Logger is the service's logger, already labelled with the service
	// and its site.
	Logger *slog.Logger
	// Metrics registers the service's metrics; never nil.
	Metrics prometheus.Registerer
	// Authorizer decides on the policy in force (policy.file, reloaded
	// when it changes); nil when no policy is set, which allows every
	// request.
	Authorizer *policy.Authorizer
}

// AuthRefuser is an HTTPService whose API answers errors in a shape of its
// own: Run writes the body of an authentication refusal with it. Without
// it, a refusal is Confluent's {"error_code": 40101, "message": ...}, the
// shape of the registry and the REST adapter.
type AuthRefuser interface {
	AuthRefusal(message string) any
}
