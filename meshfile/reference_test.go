package meshfile

import (
	"testing"

	"github.com/meshwork/meshwork/internal/config/reference"
)

// TestConfigReference keeps CONFIG.md in step with Mesh; regenerate it
// with UPDATE_REFERENCE=1 go test ./meshfile.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "mesh.yaml",
		Intro: "mesh.yaml declares the mesh's sites, links and policies: the one source of truth that the replicators " +
			"(`mesh_file`) and the control plane read. Unknown fields are errors, and every error names the file, line and field. " +
			"Each `sites[].kafka` is the Kafka client block described in [internal/kafkaclient/CONFIG.md](../internal/kafkaclient/CONFIG.md).",
	}, Mesh{})
}
