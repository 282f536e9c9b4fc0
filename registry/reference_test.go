package registry

import (
	"testing"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/config/reference"
)

// TestConfigReference keeps CONFIG.md in step with Config; regenerate it
// with UPDATE_REFERENCE=1 go test ./registry.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "mesh-registry configuration",
		Intro: "A registry instance reads one YAML file (`mesh-registry -config registry.yaml`). Unknown fields are " +
			"errors, and every error names the file, line and field. `kafka` (and `primary.kafka`) is the Kafka " +
			"client block described in [internal/kafkaclient/CONFIG.md](../internal/kafkaclient/CONFIG.md).",
	}, DefaultConfig())
}

// The README's examples are real configurations.
func TestReadmeExamples(t *testing.T) {
	reference.CheckExamples(t, "README.md", "mesh-registry", func(name string, data []byte) error {
		cfg := DefaultConfig()
		return config.Parse(name, data, &cfg)
	})
}
