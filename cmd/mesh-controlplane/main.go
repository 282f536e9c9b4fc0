// Command mesh-controlplane runs the mesh's control plane: it follows
// mesh.yaml, health-checks every site's Kafka, registry, adapters and
// replicators, gathers the catalog of every topic, and serves the HTTP API
// that meshctl uses:
//
//	mesh-controlplane -config controlplane.yaml
//
// It serves the API (described at /openapi.json), /metrics, /healthz and
// /readyz on the configured listen address, and stops gracefully on SIGINT
// or SIGTERM. mesh-controlplane -h lists its flags; -config-reference
// prints every field of the configuration file.
package main

import (
	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/controlplane/traceindex"
	"github.com/meshwork/meshwork/internal/service"
)

var command = service.Command[controlplane.Config]{
	Name: "mesh-controlplane",
	Summary: `Runs the mesh's control plane: it follows mesh.yaml, health-checks every
site's Kafka, registry, adapters and replicators, gathers the catalog of every
topic, and serves the HTTP API that meshctl uses.`,
	Reference:     controlplane.ConfigReference,
	ReferencePath: "controlplane/CONFIG.md",
	Defaults:      controlplane.DefaultConfig,
	Common:        func(c *controlplane.Config) *service.Common { return &c.Common },
	New: func(c controlplane.Config, d service.Deps) (service.Service, error) {
		ix, err := traceindex.NewService(c.TraceIndex, c.Kafka, c.Site, d.Logger)
		if err != nil {
			return nil, err
		}
		return controlplane.New(c, d.Logger, d.Metrics, controlplane.Attach(ix, "GET /v1/events/{id}/trace", "GET /v1/traces"),
			controlplane.WithAuthorizer(d.Authorizer))
	},
}

func main() { service.Main(command.Name, command.Run) }
