// Command mesh-registry runs one instance of Meshwork's schema registry, an
// HTTP API compatible with Confluent Schema Registry that stores schemas in
// Kafka:
//
//	mesh-registry -config registry.yaml
//
// It serves the API, /metrics, /healthz and /readyz on the configured
// listen address, and stops gracefully on SIGINT or SIGTERM (the write in
// progress finishes, and a leader hands its role over at once).
// mesh-registry -h lists its flags; -config-reference prints every field of
// the configuration file.
package main

import (
	"time"

	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/registry"
)

var command = service.Command[registry.Config]{
	Name: "mesh-registry",
	Summary: `Runs one instance of Meshwork's schema registry: the HTTP API of Confluent Schema
Registry, with every change stored in the _schemas Kafka topic and the same schema
ids on every site.`,
	Reference:     registry.ConfigReference,
	ReferencePath: "registry/CONFIG.md",
	Defaults:      registry.DefaultConfig,
	Common:        func(c *registry.Config) *service.Common { return &c.Common },
	New: func(c registry.Config, d service.Deps) (service.Service, error) {
		return registry.New(c, d.Logger, d.Metrics, registry.WithAuthorizer(d.Authorizer))
	},
	// The write in progress, and leaving the election group so that another
	// instance takes over at once.
	ShutdownTimeout: 10 * time.Second,
}

func main() { service.Main(command.Name, command.Run) }
