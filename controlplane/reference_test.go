package controlplane

import (
	"testing"

	"github.com/meshwork/meshwork/internal/config/reference"
)

// TestConfigReference keeps CONFIG.md in step with Config; regenerate it
// with UPDATE_REFERENCE=1 go test ./controlplane.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "mesh-controlplane configuration",
		Intro: "The control plane reads one YAML file (`mesh-controlplane -config controlplane.yaml`). " +
			"Unknown fields are errors, and every error names the file, line and field. " +
			"The mesh's sites, links and policies come from the mesh file it names (see [meshfile](../meshfile/mesh.go) and the README). " +
			"`kafka` is the Kafka client block described in [internal/kafkaclient/CONFIG.md](../internal/kafkaclient/CONFIG.md); " +
			"left out, it is the site's as the mesh file declares it.",
	}, DefaultConfig())
}
