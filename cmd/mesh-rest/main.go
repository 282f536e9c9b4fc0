// Command mesh-rest runs Meshwork's REST adapter: an HTTP API compatible
// with Confluent REST Proxy (v2 and v3) and CloudEvents over HTTP that
// produces into a site's Kafka cluster, and webhook delivery of Kafka
// records with retries and a dead-letter topic:
//
//	mesh-rest -config rest.yaml
//
// It serves the API, /openapi.json, /metrics, /healthz and /readyz on the
// configured listen address, and on SIGINT or SIGTERM finishes the
// requests in flight, commits what webhooks delivered and closes.
// mesh-rest -h lists its flags; -config-reference prints every field of
// the configuration file.
package main

import (
	"github.com/meshwork/meshwork/adapters/rest"
	"github.com/meshwork/meshwork/internal/service"
)

var command = service.Command[rest.Config]{
	Name: "mesh-rest",
	Summary: `Runs Meshwork's REST adapter: Confluent REST Proxy v2/v3 and CloudEvents over HTTP
into Kafka (answered only once Kafka has the records), and Kafka records out to
webhooks (committed only once the receiver took them, or they went to the DLQ).`,
	Reference:     rest.ConfigReference,
	ReferencePath: "adapters/rest/CONFIG.md",
	Defaults:      rest.DefaultConfig,
	Common:        func(c *rest.Config) *service.Common { return &c.Common },
	New: func(c rest.Config, d service.Deps) (service.Service, error) {
		return rest.New(c, d.Logger, d.Metrics, rest.WithPolicy(d.Authorizer))
	},
}

func main() { service.Main(command.Name, command.Run) }
