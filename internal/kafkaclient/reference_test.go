package kafkaclient

import (
	"testing"

	"github.com/meshwork/meshwork/internal/config/reference"
)

// TestConfigReference keeps CONFIG.md, the reference of the kafka section,
// in step with Config. Regenerate it with
// UPDATE_REFERENCE=1 go test ./internal/kafkaclient.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "Kafka client configuration",
		Intro: "Every service reaches Kafka through the same block: the `kafka:` section of the MQTT adapter's " +
			"and the registry's configuration files (also `primary.kafka:` in the registry), and each `sites[].kafka:` " +
			"of the replicator's. Paths below are relative to that block: `producer.linger` is written\n\n" +
			"```yaml\nkafka:\n  producer:\n    linger: 5ms\n```\n\n" +
			"The defaults below are those of kafkaclient.Defaults(). A service may start from others, which its own " +
			"reference shows: the MQTT adapter lingers 1ms, and the replicator's sites[].kafka and the registry's " +
			"primary.kafka start empty.",
	}, Defaults())
}
