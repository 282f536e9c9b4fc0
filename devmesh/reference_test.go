package devmesh

import (
	"testing"

	"github.com/meshwork/meshwork/internal/config/reference"
)

// TestConfigReference keeps CONFIG.md in step with Config; regenerate it
// with UPDATE_REFERENCE=1 go test ./devmesh.
func TestConfigReference(t *testing.T) {
	reference.Check(t, "CONFIG.md", reference.Doc{
		Title: "meshd dev configuration",
		Intro: "`meshd dev -config mesh.yaml` reads this optional file; its flags (`-dir`, `-port`, `-admin-port`, " +
			"`-log-level`, `-log-format`) override it. Unknown fields are errors, and every error names the file, " +
			"line and field.",
		KeyNames: map[string]string{"sites[].ports": "service"},
	}, DefaultConfig())
}
