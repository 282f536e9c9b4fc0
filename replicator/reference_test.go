package replicator

import (
	"testing"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/config/reference"
)

// TestConfigReference keeps CONFIG.md in step with Config; regenerate it
// with UPDATE_REFERENCE=1 go test ./replicator.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "mesh-replicator configuration",
		Intro: "The replicator of one site reads one YAML file (`mesh-replicator -config replicator.yaml`). " +
			"Unknown fields are errors, and every error names the file, line and field. " +
			"`kafka` (and each `sites[].kafka`) is the Kafka client block described in " +
			"[internal/kafkaclient/CONFIG.md](../internal/kafkaclient/CONFIG.md).",
	}, DefaultConfig())
}

// The README's examples are real configurations.
func TestReadmeExamples(t *testing.T) {
	reference.CheckExamples(t, "README.md", "mesh-replicator", func(name string, data []byte) error {
		cfg := DefaultConfig()
		return config.Parse(name, data, &cfg)
	})
}
