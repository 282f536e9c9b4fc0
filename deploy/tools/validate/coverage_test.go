package validate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshwork/meshwork/deploy/tools/images"
)

// Every service that has an image has a Kubernetes base used by both
// overlays, a systemd unit and a configuration file per overlay: a new
// service cannot be half deployed.
func TestEveryServiceIsDeployed(t *testing.T) {
	for _, s := range images.Specs() {
		if !s.Service() {
			continue
		}
		for _, f := range []string{
			filepath.Join("k8s", "base", s.Name, "kustomization.yaml"),
			filepath.Join("k8s", "overlays", "east", "config", s.Name+".yaml"),
			filepath.Join("k8s", "overlays", "west", "config", s.Name+".yaml"),
			filepath.Join("systemd", s.Name+".service"),
		} {
			if _, err := os.Stat(filepath.Join(deployRoot, f)); err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
		}
		for _, site := range []string{"east", "west"} {
			found := false
			for _, o := range build(t, site) {
				if (o.Kind == "Deployment" || o.Kind == "StatefulSet") && o.Name == s.Name {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no workload in overlay %s", s.Name, site)
			}
		}
	}
}
