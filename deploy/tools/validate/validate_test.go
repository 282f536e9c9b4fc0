package validate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const deployRoot = "../.."

func build(t *testing.T, site string) []Object {
	t.Helper()
	objs, err := Build(filepath.Join(deployRoot, "k8s", "overlays", site))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// check runs every check of an overlay's objects, as deploycheck does.
func check(t *testing.T, objs []Object) error {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	typed, derr := dec.DecodeAll(objs)
	_, _, cerr := ConfigMaps(typed)
	_, perr := PolicyUsers(typed)
	return errors.Join(derr, Policy(typed), cerr, perr)
}

// The overlays as committed pass every check, and hold what a site needs.
func TestOverlays(t *testing.T) {
	for _, site := range []string{"east", "west"} {
		objs := build(t, site)
		if err := check(t, objs); err != nil {
			t.Errorf("%s: %v", site, err)
		}
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.Kind]++
		}
		for kind, atLeast := range map[string]int{"Kafka": 1, "KafkaNodePool": 1, "KafkaUser": 7, "StatefulSet": 2, "Deployment": 4,
			"PodDisruptionBudget": 6, "ServiceMonitor": 6, "ConfigMap": 6, "Namespace": 1} {
			if kinds[kind] < atLeast {
				t.Errorf("%s: %d %s, want at least %d", site, kinds[kind], kind, atLeast)
			}
		}
		checked, _, err := ConfigMaps(mustDecode(t, objs))
		if err != nil || len(checked) < 5 {
			t.Errorf("%s: service configurations checked: %v, %v; want the five known services'", site, checked, err)
		}
	}
}

func mustDecode(t *testing.T, objs []Object) []any {
	t.Helper()
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	typed, err := dec.DecodeAll(objs)
	if err != nil {
		t.Fatal(err)
	}
	return typed
}

// edit returns objs with the object kind/name changed by f, through its
// YAML as a generic tree.
func edit(t *testing.T, objs []Object, kind, name string, f func(m map[string]any)) []Object {
	t.Helper()
	out := append([]Object(nil), objs...)
	for i, o := range out {
		if o.Kind != kind || !strings.HasPrefix(o.Name, name) {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(o.YAML, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		y, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i].YAML = y
		return out
	}
	t.Fatalf("no %s %s in the build", kind, name)
	return nil
}

// at walks a generic tree by map keys and list indexes.
func at(m any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m = m.(map[string]any)[k]
		case int:
			m = m.([]any)[k]
		}
	}
	return m
}

func container(m map[string]any) map[string]any {
	return at(m, "spec", "template", "spec", "containers", 0).(map[string]any)
}

// Each kind of broken manifest fails the check with a message that names
// the object and the problem.
func TestBrokenManifests(t *testing.T) {
	objs := build(t, "east")
	for _, c := range []struct {
		name, kind, obj, want string
		f                     func(m map[string]any)
	}{
		{"unknown field", "Deployment", "mesh-replicator", `unknown field "spec.template.spec.containers[0].resourcez"`, func(m map[string]any) {
			container(m)["resourcez"] = container(m)["resources"]
		}},
		{"misspelt probe field", "StatefulSet", "mesh-mqtt", `unknown field "spec.template.spec.containers[0].readinessProbe.httpGet.paht"`, func(m map[string]any) {
			at(container(m), "readinessProbe", "httpGet").(map[string]any)["paht"] = "/readyz"
		}},
		{"missing limits", "Deployment", "mesh-registry", "container mesh-registry: resources.limits.memory is missing", func(m map[string]any) {
			delete(at(container(m), "resources").(map[string]any), "limits")
		}},
		{"latest tag", "Deployment", "mesh-amqp", "latest is not a version", func(m map[string]any) {
			container(m)["image"] = "registry.example.com/meshwork/mesh-amqp:latest"
		}},
		{"no tag", "Deployment", "mesh-amqp", "has no tag", func(m map[string]any) {
			container(m)["image"] = "registry.example.com:5000/meshwork/mesh-amqp"
		}},
		{"root user", "StatefulSet", "mesh-rest", "runAsNonRoot must be true", func(m map[string]any) {
			psc := at(m, "spec", "template", "spec", "securityContext").(map[string]any)
			psc["runAsUser"], psc["runAsNonRoot"] = 0, false
			delete(at(container(m), "securityContext").(map[string]any), "runAsNonRoot")
		}},
		{"uid 0", "Deployment", "mesh-replicator", "runAsUser is 0", func(m map[string]any) {
			at(container(m), "securityContext").(map[string]any)["runAsUser"] = 0
		}},
		{"writable root", "Deployment", "mesh-registry", "readOnlyRootFilesystem must be true", func(m map[string]any) {
			at(container(m), "securityContext").(map[string]any)["readOnlyRootFilesystem"] = false
		}},
		{"capabilities kept", "Deployment", "mesh-registry", "must drop ALL", func(m map[string]any) {
			delete(at(container(m), "securityContext").(map[string]any), "capabilities")
		}},
		{"no readiness probe", "Deployment", "mesh-controlplane", "readinessProbe must be an HTTP GET of /readyz", func(m map[string]any) {
			delete(container(m), "readinessProbe")
		}},
		{"PDB selects nothing", "PodDisruptionBudget", "mesh-amqp", "Deployment/meshwork-east/mesh-amqp: no PodDisruptionBudget", func(m map[string]any) {
			at(m, "spec", "selector", "matchLabels").(map[string]any)["app.kubernetes.io/instance"] = "other"
		}},
		{"ServiceMonitor unknown field", "ServiceMonitor", "mesh-mqtt", `unknown field "spec.endpoints[0].scrapeEvery"`, func(m map[string]any) {
			at(m, "spec", "endpoints", 0).(map[string]any)["scrapeEvery"] = "30s"
		}},
		{"Strimzi unknown field", "Kafka", "kafka", `unknown field "spec.kafka.listeners[0].tsl"`, func(m map[string]any) {
			at(m, "spec", "kafka", "listeners", 0).(map[string]any)["tsl"] = true
		}},
		{"Strimzi bad ACL operation", "KafkaUser", "mesh-registry", `operations[0]: "Reed" is not one of`, func(m map[string]any) {
			at(m, "spec", "authorization", "acls", 0, "operations").([]any)[0] = "Reed"
		}},
		{"Strimzi user of no cluster", "KafkaUser", "mesh-mqtt", `strimzi.io/cluster names "other"`, func(m map[string]any) {
			at(m, "metadata", "labels").(map[string]any)["strimzi.io/cluster"] = "other"
		}},
		{"KRaft without node pools", "Kafka", "kafka", "strimzi.io/node-pools", func(m map[string]any) {
			delete(at(m, "metadata", "annotations").(map[string]any), "strimzi.io/node-pools")
		}},
		{"service configuration typo", "ConfigMap", "mesh-mqtt-config", `unknown field "client_idd"`, func(m map[string]any) {
			d := at(m, "data").(map[string]any)
			d["config.yaml"] = strings.Replace(d["config.yaml"].(string), "client_id:", "client_idd:", 1)
		}},
		{"mesh.yaml typo beside the control plane's configuration", "ConfigMap", "mesh-controlplane-config", "registy", func(m map[string]any) {
			d := at(m, "data").(map[string]any)
			d["mesh.yaml"] = strings.Replace(d["mesh.yaml"].(string), "registry:", "registy:", 1)
		}},
		{"service configuration unset variable", "ConfigMap", "mesh-registry-config", "environment variable NODE_IP is not set", func(m map[string]any) {
			d := at(m, "data").(map[string]any)
			d["config.yaml"] = strings.Replace(d["config.yaml"].(string), "${POD_IP}", "${NODE_IP}", 1)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := check(t, edit(t, objs, c.kind, c.obj, c.f))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one containing %q", err, c.want)
			}
		})
	}
	t.Run("written Secret", func(t *testing.T) {
		bad := append(objs, Object{APIVersion: "v1", Kind: "Secret", Namespace: "meshwork-east", Name: "x",
			YAML: []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: meshwork-east}\nstringData: {password: hunter2}\n")})
		if err := check(t, bad); err == nil || !strings.Contains(err.Error(), "secrets are referenced") {
			t.Errorf("error %v, want the Secret refused", err)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		bad := append(objs, Object{APIVersion: "example.com/v1", Kind: "Widget", Name: "w",
			YAML: []byte("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")})
		if err := check(t, bad); err == nil || !strings.Contains(err.Error(), "not a kind this check knows") {
			t.Errorf("error %v, want the unknown kind refused", err)
		}
	})
}

func TestPinnedImage(t *testing.T) {
	for img, ok := range map[string]bool{
		"meshwork/mesh-mqtt:0.1.0": true, "registry:5000/meshwork/mesh-mqtt:0.1.0": true,
		"meshwork/mesh-mqtt@sha256:0123": true, "meshwork/mesh-mqtt": false, "registry:5000/mesh-mqtt": false,
		"meshwork/mesh-mqtt:latest": false, "meshwork/mesh-mqtt:LATEST": false, "": false,
	} {
		if err := PinnedImage(img); (err == nil) != ok {
			t.Errorf("PinnedImage(%q) = %v, want ok %v", img, err, ok)
		}
	}
}

// copyTree copies the files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The compose file passes; an unpinned image, a Meshwork service that runs
// as root or writable, a key the compose spec does not have, and a typo in
// a service's configuration file each fail.
func TestCompose(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(deployRoot, "compose", "compose.yaml")
	p, err := Compose(ctx, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Services) < 12 {
		t.Fatalf("%d services, want two sites of Kafka, Mosquitto and the mesh", len(p.Services))
	}
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"latest", "image: eclipse-mosquitto:${MOSQUITTO_VERSION:-2.0.22}", "image: eclipse-mosquitto:latest", "latest is not a version"},
		{"root", `user: "65532:65532"`, `user: "0:0"`, "want a non-root numeric UID"},
		{"writable", "read_only: true", "read_only: false", "read_only must be true"},
		{"unknown key", "stop_grace_period: 30s", "stop_grace_period: 30s\n  restart_policy_typo: always", "restart_policy_typo"},
		{"config typo", "", "", `unknown field "schemas_primaryy"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, filepath.Join(deployRoot, "compose"), dir)
			text := string(orig)
			if c.old != "" {
				if !strings.Contains(text, c.old) {
					t.Fatalf("compose.yaml has no %q", c.old)
				}
				text = strings.Replace(text, c.old, c.new, 1)
			} else {
				cfg := filepath.Join(dir, "config", "west", "mesh-replicator.yaml")
				b, _ := os.ReadFile(cfg)
				if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "schemas_primary:", "schemas_primaryy:", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Compose(ctx, filepath.Join(dir, "compose.yaml"), nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one containing %q", err, c.want)
			}
		})
	}
}

// The units pass systemd-analyze verify and carry the hardening; a unit
// without NoNewPrivileges, or with a key systemd does not know, fails.
func TestSystemd(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(deployRoot, "systemd")
	err := Systemd(ctx, dir)
	if errors.Is(err, ErrNoSystemdAnalyze) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"no NoNewPrivileges", "NoNewPrivileges=yes\n", "", "missing NoNewPrivileges=yes"},
		{"unknown key", "Restart=on-failure\n", "Restart=on-failure\nRestartPolicy=always\n", "Unknown key"},
		{"bad value", "Restart=on-failure\n", "Restart=sometimes\n", "restart specifier"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			copyTree(t, dir, tmp)
			unit := filepath.Join(tmp, "mesh-registry.service")
			b, _ := os.ReadFile(unit)
			if !strings.Contains(string(b), c.old) {
				t.Fatalf("the unit has no %q", c.old)
			}
			if err := os.WriteFile(unit, []byte(strings.Replace(string(b), c.old, c.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := Systemd(ctx, tmp); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one containing %q", err, c.want)
			}
		})
	}
}

// An overlay that serves every service over TLS (the https component and a
// tls section in each configuration file) passes; the probes and the
// configuration files must agree, one way or the other.
func TestHTTPSComponent(t *testing.T) {
	east, err := filepath.Abs(filepath.Join(deployRoot, "k8s", "overlays", "east"))
	if err != nil {
		t.Fatal(err)
	}
	component, err := filepath.Abs(filepath.Join(deployRoot, "k8s", "components", "https"))
	if err != nil {
		t.Fatal(err)
	}
	services := []string{"mesh-mqtt", "mesh-amqp", "mesh-rest", "mesh-replicator", "mesh-registry", "mesh-controlplane"}
	overlay := func(withComponent, withTLS bool) []Object {
		dir := t.TempDir()
		// kustomize takes relative paths only.
		rel := func(to string) string {
			r, err := filepath.Rel(dir, to)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + rel(east) + "\n"
		if withComponent {
			k += "components:\n  - " + rel(component) + "\n"
		}
		k += "configMapGenerator:\n"
		for _, s := range services {
			b, err := os.ReadFile(filepath.Join(east, "config", s+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if withTLS {
				b = append(b, "tls:\n  cert_file: /var/run/meshwork/tls/tls.crt\n  key_file: /var/run/meshwork/tls/tls.key\n"...)
			}
			if err := os.WriteFile(filepath.Join(dir, s+".yaml"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			k += "  - name: " + s + "-config\n    behavior: merge\n    files:\n      - config.yaml=" + s + ".yaml\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
			t.Fatal(err)
		}
		objs, err := Build(dir)
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	if err := check(t, overlay(true, true)); err != nil {
		t.Errorf("https component with tls sections: %v", err)
	}
	err = check(t, overlay(false, true))
	if err == nil || !strings.Contains(err.Error(), "Deployment/meshwork-east/mesh-registry: container mesh-registry: readinessProbe.httpGet.scheme must be HTTPS") {
		t.Errorf("tls sections with HTTP probes: %v", err)
	}
	err = check(t, overlay(true, false))
	if err == nil || !strings.Contains(err.Error(), "livenessProbe.httpGet.scheme must be HTTP (the default)") {
		t.Errorf("HTTPS probes without tls sections: %v", err)
	}
}
