package devmesh

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/meshfile"
)

// The dev mesh writes its mesh.yaml, its replicators read it, and its
// control plane, named in endpoints.json, sees every site healthy and
// every link up.
func TestControlPlaneSeesTheMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := Start(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep, err := ReadEndpoints(m.EndpointsFile())
	if err != nil {
		t.Fatal(err)
	}
	if ep.ControlPlane == "" || ep.MeshFile != m.MeshFile() {
		t.Fatalf("endpoints.json: controlplane %q, mesh_file %q", ep.ControlPlane, ep.MeshFile)
	}
	mf, err := meshfile.Load(m.MeshFile())
	if err != nil {
		t.Fatal(err)
	}
	if east, _ := mf.Site("east"); len(east.Adapters) < 2 || len(east.Replicators) != 1 || east.Registry != ep.Sites["east"].Registry || mf.Policies.SchemasPrimary != "east" {
		t.Fatalf("mesh.yaml's east: %+v, policies %+v", east, mf.Policies)
	}
	get := func(path string, v any) error {
		resp, err := http.Get(ep.ControlPlane + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(v)
	}
	kafkatest.Wait(t, 30*time.Second, func() error {
		var sites struct{ Sites []controlplane.Site }
		if err := get("/v1/sites", &sites); err != nil {
			return err
		}
		for _, s := range sites.Sites {
			if !s.Healthy {
				return fmt.Errorf("site %s not healthy: %+v", s.Name, s)
			}
			for _, a := range s.Adapters {
				if a.Note != "" { // e.g. its rules could not be read
					return fmt.Errorf("site %s adapter %s: %s", s.Name, a.Name, a.Note)
				}
			}
		}
		var links struct{ Links []controlplane.Link }
		if err := get("/v1/links", &links); err != nil {
			return err
		}
		if len(links.Links) != 2 {
			return fmt.Errorf("links %+v", links.Links)
		}
		for _, l := range links.Links {
			if l.Status != controlplane.LinkUp {
				return fmt.Errorf("link %s->%s: %+v", l.Source, l.Target, l)
			}
		}
		return nil
	})
	// Every adapter's rules are where mesh.yaml's admin URL says.
	east, _ := mf.Site("east")
	for _, a := range east.Adapters {
		var info adapters.RulesInfo
		if err := getJSON(a.Admin+adapters.RulesPath, &info); err != nil || info.Component == "" || info.Site != "east" {
			t.Fatalf("%s%s: %v %+v", a.Admin, adapters.RulesPath, err, info)
		}
	}
}

// getJSON GETs url and decodes its JSON body into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
