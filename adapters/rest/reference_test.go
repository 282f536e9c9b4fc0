package rest

import (
	"testing"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/config/reference"
)

// The examples in README.md are valid configurations.
func TestReadmeExamples(t *testing.T) {
	reference.CheckExamples(t, "README.md", "mesh-rest", func(name string, data []byte) error {
		cfg := DefaultConfig()
		return config.Parse(name, data, &cfg)
	})
}

// TestConfigReference keeps CONFIG.md in step with Config; regenerate it
// with UPDATE_REFERENCE=1 go test ./adapters/rest.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "mesh-rest configuration",
		Intro: "The REST adapter reads one YAML file (`mesh-rest -config rest.yaml`). Unknown fields are errors, " +
			"and every error names the file, line and field. `kafka` is the Kafka client block described in " +
			"[internal/kafkaclient/CONFIG.md](../../internal/kafkaclient/CONFIG.md); the adapter needs its " +
			"producer to keep `acks: all`. [README.md](README.md) explains the API, webhooks and guarantees.",
	}, DefaultConfig())
}
