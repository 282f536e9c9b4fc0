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
// mesh-replicator -h lists its flags; -config-reference prints every field
// of the configuration file.
package main

import (
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/replicator"
)

var command = service.Command[replicator.Config]{
	Name: "mesh-replicator",
	Summary: `Runs the replicator of one site: it copies into the site's Kafka cluster the
records of the topics that something there (or at a site it serves) consumes,
from the other sites' clusters, exactly once by default.`,
	Reference:     replicator.ConfigReference,
	ReferencePath: "replicator/CONFIG.md",
	Defaults:      replicator.DefaultConfig,
	Common:        func(c *replicator.Config) *service.Common { return &c.Common },
	New: func(c replicator.Config, d service.Deps) (service.Service, error) {
		return replicator.New(c, d.Logger, d.Metrics)
	},
}

func main() { service.Main(command.Name, command.Run) }
