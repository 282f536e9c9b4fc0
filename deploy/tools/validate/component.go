package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// ComponentConfig is the section each component under k8s/components needs
// in every service's configuration file, as its kustomization.yaml says:
// the https component's certificate, the policy component's file.
var ComponentConfig = map[string]string{
	"https":  "tls:\n  cert_file: /var/run/meshwork/tls/tls.crt\n  key_file: /var/run/meshwork/tls/tls.key\n",
	"policy": "policy:\n  file: /etc/meshwork-policy/policy.yaml\n",
}

// ComponentOverlay enables components in overlay as an operator would, in a
// copy: it copies k8sRoot (the directory of base/, components/ and
// overlays/) to the new directory dir, adds the components (paths relative
// to the overlay, as in its kustomization: ../../components/policy) to the
// copy of overlays/<overlay>/kustomization.yaml, and their ComponentConfig
// sections (by the component directory's name) to every service's
// configuration file of its config/. It returns the copy of the overlay,
// for Build.
func ComponentOverlay(dir, k8sRoot, overlay string, components ...string) (string, error) {
	if err := os.CopyFS(dir, os.DirFS(k8sRoot)); err != nil {
		return "", fmt.Errorf("copy %s: %w", k8sRoot, err)
	}
	od := filepath.Join(dir, "overlays", overlay)
	kfile := filepath.Join(od, "kustomization.yaml")
	b, err := os.ReadFile(kfile)
	if err != nil {
		return "", err
	}
	var k map[string]any
	if err := yaml.Unmarshal(b, &k); err != nil {
		return "", fmt.Errorf("%s: %w", kfile, err)
	}
	comps, _ := k["components"].([]any)
	var sections strings.Builder
	for _, c := range components {
		comps = append(comps, c)
		sections.WriteString(ComponentConfig[filepath.Base(c)])
	}
	k["components"] = comps
	if b, err = yaml.Marshal(k); err != nil {
		return "", err
	}
	if err := os.WriteFile(kfile, b, 0o600); err != nil {
		return "", err
	}
	files, err := filepath.Glob(filepath.Join(od, "config", "*.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if _, ok := parsers[strings.TrimSuffix(filepath.Base(f), ".yaml")]; !ok || sections.Len() == 0 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(f, append(b, "\n"+sections.String()...), 0o600); err != nil {
			return "", err
		}
	}
	return od, nil
}
