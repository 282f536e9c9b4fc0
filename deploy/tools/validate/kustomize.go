package validate

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one manifest of a build: its YAML and what names it.
type Object struct {
	APIVersion, Kind, Namespace, Name string
	YAML                              []byte
}

// ID names the object in messages: Kind/namespace/name.
func (o Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Build runs kustomize on the directory dir, as `kubectl kustomize dir`
// does (no plugins, no remote bases, files only under the kustomization's
// root), and returns the objects it makes.
func Build(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []Object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		gvk := r.GetGvk()
		out = append(out, Object{APIVersion: gvk.ApiVersion(), Kind: gvk.Kind, Namespace: r.GetNamespace(), Name: r.GetName(), YAML: y})
	}
	return out, nil
}
