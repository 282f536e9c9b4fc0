package replicator

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// unusedPort returns a loopback address nothing listens on.
func unusedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The replicator takes its sites, links and policies from the mesh file,
// copies from the sites it reaches, and reports at /v1/status the link it
// cannot connect with, and why.
func TestMeshFileSitesAndLinkStatus(t *testing.T) {
	m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t)}
	dead := unusedPort(t)
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	doc := fmt.Sprintf(`sites:
  - name: east
    kafka: {brokers: [%s]}
  - name: west
    kafka: {brokers: [%s]}
  - name: north
    kafka: {brokers: [%s], dial_timeout: 500ms}
links: [east-west, west-north]
policies: {replication_mode: at_least_once}
`, m["east"].ListenAddrs()[0], m["west"].ListenAddrs()[0], dead)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site, cfg.Listen, cfg.MeshFile = "west", "127.0.0.1:0", path
	cfg.Kafka.Brokers = nil // from the mesh file
	cfg.Interest.Discover = false
	cfg.Interest.Declared = []Declared{{Topic: "shop.order.created"}}
	cfg.Flow.FetchMaxWait = 20 * time.Millisecond
	cfg.Flow.PlanInterval = 200 * time.Millisecond
	cfg.Flow.CheckpointInterval = 200 * time.Millisecond
	r, _ := startReplicator(t, cfg)
	if r.cfg.Mode != AtLeastOnce || len(r.cfg.Sites) != 3 {
		t.Fatalf("the mesh file's policies and sites are not in force: mode %s, sites %+v", r.cfg.Mode, r.cfg.Sites)
	}
	produce(t, m["east"], "shop.order.created", 0, 10)
	readAll(t, m["west"], "shop.order.created", 10)

	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	var st Status
	kafkatest.Wait(t, testWait, func() error {
		resp, err := http.Get(srv.URL + "/v1/status")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		st = Status{}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		if len(st.Sources) != 2 || st.Sources[1].Checked.IsZero() {
			return fmt.Errorf("sources not looked at yet: %+v", st.Sources)
		}
		return nil
	})
	east, north := st.Sources[0], st.Sources[1]
	if east.Site != "east" || !east.Reachable {
		t.Fatalf("east: %+v", east)
	}
	if north.Site != "north" || north.Reachable || !strings.Contains(north.Error, strings.Split(dead, ":")[1]) {
		t.Fatalf("north (nothing at %s): %+v", dead, north)
	}
	if len(st.Copying) == 0 || st.Copying[0].Topic != "shop.order.created" || st.RestartNeeded != "" {
		t.Fatalf("copying: %+v, restart needed %q", st.Copying, st.RestartNeeded)
	}

	// A change of links in the mesh file is reported as needing a restart.
	if err := os.WriteFile(path+".tmp", []byte(strings.Replace(doc, "west-north]", "west-north, east-north]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	kafkatest.Wait(t, testWait, func() error {
		if got := r.Status().RestartNeeded; !strings.Contains(got, "links changed") {
			return fmt.Errorf("restart needed: %q", got)
		}
		return nil
	})
}

func TestMeshFileConfigErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(path, []byte("sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n  - name: west\n    kafka: {brokers: []}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"invalid mesh file", "site: west\nmesh_file: " + path + "\n", path + ":5:"},
		{"both", "site: west\nmesh_file: " + path + "\nlinks: [east-west]\n", "replicator.yaml:2:1: field mesh_file: sites and links come from"},
		{"missing", "site: west\nmesh_file: " + filepath.Join(dir, "nope.yaml") + "\n", "nope.yaml: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			err := config.Parse("replicator.yaml", []byte(tc.doc), &cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
	if err := os.WriteFile(path, []byte("sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	err := config.Parse("replicator.yaml", []byte("site: west\nmesh_file: "+path+"\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), `has no site "west" (its sites are east)`) {
		t.Fatalf("unknown own site: %v", err)
	}
}

// The site's interest in the mesh file is declared, and a change of it
// applies without a restart.
func TestMeshFileInterestAppliesLive(t *testing.T) {
	m := mesh{"east": newCluster(t, "shop.order.created", "billing.invoice"), "west": newCluster(t)}
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	doc := fmt.Sprintf(`sites:
  - name: east
    kafka: {brokers: [%s]}
  - name: west
    kafka: {brokers: [%s]}
    interest: [{topic: shop.order.created}]
`, m["east"].ListenAddrs()[0], m["west"].ListenAddrs()[0])
	write := func(doc string) {
		if err := os.WriteFile(path+".tmp", []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(doc)
	cfg := DefaultConfig()
	cfg.Site, cfg.Listen, cfg.MeshFile = "west", "127.0.0.1:0", path
	cfg.Kafka.Brokers = nil
	cfg.Interest.Discover = false
	cfg.Interest.LeaseTTL = 2 * time.Second
	cfg.Flow.FetchMaxWait = 20 * time.Millisecond
	cfg.Flow.PlanInterval = 200 * time.Millisecond
	cfg.Flow.CheckpointInterval = 200 * time.Millisecond
	r, _ := startReplicator(t, cfg)
	produce(t, m["east"], "shop.order.created", 0, 5)
	readAll(t, m["west"], "shop.order.created", 5)

	write(strings.Replace(doc, "interest: [{topic: shop.order.created}]", "interest: [{topic: shop.order.created}, {topic: billing.invoice}]", 1))
	produce(t, m["east"], "billing.invoice", 0, 5)
	readAll(t, m["west"], "billing.invoice", 5)
	if got := r.Status().RestartNeeded; got != "" {
		t.Fatalf("a change of interest asks for a restart: %q", got)
	}
}
