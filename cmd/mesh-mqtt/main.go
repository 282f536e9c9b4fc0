// Command mesh-mqtt runs Meshwork's MQTT adapter, which bridges a site's
// MQTT broker and its Kafka cluster in both directions:
//
//	mesh-mqtt -config mqtt.yaml
//
// It serves /metrics, /healthz and /readyz on the configured listen address
// (ready while the broker session is up with its subscriptions and Kafka
// answers), and on SIGINT or SIGTERM stops taking messages, waits for those
// in flight, commits and closes. mesh-mqtt -h lists its flags;
// -config-reference prints every field of the configuration file.
package main

import (
	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/service"
)

var command = service.Command[mqtt.Config]{
	Name: "mesh-mqtt",
	Summary: `Runs Meshwork's MQTT adapter: it carries MQTT messages into Kafka (acknowledged
to the broker only once Kafka has them) and Kafka records out to MQTT
(committed only once the broker has them).`,
	Reference:     mqtt.ConfigReference,
	ReferencePath: "adapters/mqtt/CONFIG.md",
	Defaults:      mqtt.DefaultConfig,
	Common:        func(c *mqtt.Config) *service.Common { return &c.Common },
	New: func(c mqtt.Config, d service.Deps) (service.Service, error) {
		return mqtt.New(c, d.Logger, d.Metrics)
	},
}

func main() { service.Main(command.Name, command.Run) }
