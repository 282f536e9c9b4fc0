// Command mesh-amqp runs Meshwork's AMQP 1.0 adapter, which bridges a
// site's AMQP broker (RabbitMQ, ActiveMQ, Artemis) and its Kafka cluster in
// both directions:
//
//	mesh-amqp -config amqp.yaml
//
// It serves /metrics, /healthz and /readyz on the configured listen address
// (ready while the broker connection is up with its receivers and Kafka
// answers), and on SIGINT or SIGTERM stops taking messages, waits for those
// in flight to be accepted and for sends to be confirmed, commits and
// closes. mesh-amqp -h lists its flags; -config-reference prints every
// field of the configuration file.
package main

import (
	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/internal/service"
)

var command = service.Command[amqp.Config]{
	Name: "mesh-amqp",
	Summary: `Runs Meshwork's AMQP 1.0 adapter: it carries AMQP messages into Kafka (settled
Accepted only once Kafka has them) and Kafka records out to AMQP addresses
(committed only once the broker accepted them).`,
	Reference:     amqp.ConfigReference,
	ReferencePath: "adapters/amqp/CONFIG.md",
	Defaults:      amqp.DefaultConfig,
	Common:        func(c *amqp.Config) *service.Common { return &c.Common },
	New: func(c amqp.Config, d service.Deps) (service.Service, error) {
		return amqp.New(c, d.Logger, d.Metrics)
	},
}

func main() { service.Main(command.Name, command.Run) }
