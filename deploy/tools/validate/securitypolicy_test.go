package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshwork/meshwork/policy"
)

const policyFile = "/etc/meshwork-policy/policy.yaml"

// sitePolicyComponent is the overlay's own policy, as deploy/README.md
// shows it (overlays/<site>/site-policy/kustomization.yaml).
const sitePolicyComponent = `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
configMapGenerator:
  - name: meshwork-policy
    behavior: replace
    options:
      disableNameSuffixHash: true
    files:
      - policy.yaml
`

// policyOverlay builds overlay site with the policy component enabled as
// the component's kustomization.yaml says (and the policy section in every
// configuration file). With sitePolicy, the overlay replaces the example
// policy with it as deploy/README.md says: a component of its own, after
// the policy component, whose generator replaces the ConfigMap.
func policyOverlay(t *testing.T, site string, sitePolicy *string) []Object {
	t.Helper()
	components := []string{"../../components/policy"}
	if sitePolicy != nil {
		components = append(components, "site-policy")
	}
	dir, err := ComponentOverlay(t.TempDir(), filepath.Join(deployRoot, "k8s"), site, components...)
	if err != nil {
		t.Fatal(err)
	}
	if sitePolicy != nil {
		if err := os.MkdirAll(filepath.Join(dir, "site-policy"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string]string{"policy.yaml": *sitePolicy, "kustomization.yaml": sitePolicyComponent} {
			if err := os.WriteFile(filepath.Join(dir, "site-policy", name), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	objs, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// With the policy component, each overlay passes, and every Meshwork
// workload mounts the one policy ConfigMap read-only as a directory where
// its configuration's policy.file points; the ConfigMap keeps its name (no
// hash suffix), so an edit updates the pods' file in place and the
// services reload it; the example policy parses and names the overlay's
// KafkaUsers as the services' principals.
func TestPolicyComponent(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(deployRoot, "k8s", "components", "policy", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse("policy.yaml", example)
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"east", "west"} {
		objs := policyOverlay(t, site, nil)
		if err := check(t, objs); err != nil {
			t.Fatalf("%s with the policy component: %v", site, err)
		}
		typed := mustDecode(t, objs)
		checked, _, err := ConfigMaps(typed)
		if err != nil || len(checked) != 6 {
			t.Errorf("%s: configurations checked %v, %v; want the six services'", site, checked, err)
		}
		ns := "meshwork-" + site
		var cm *corev1.ConfigMap
		workloads := 0
		for _, o := range typed {
			var pod corev1.PodTemplateSpec
			switch x := o.(type) {
			case *corev1.ConfigMap:
				if strings.HasPrefix(x.Name, "meshwork-policy") {
					cm = x
				}
				continue
			case *appsv1.Deployment:
				pod = x.Spec.Template
			case *appsv1.StatefulSet:
				pod = x.Spec.Template
			default:
				continue
			}
			workloads++
			c := pod.Spec.Containers[0]
			var mount *corev1.VolumeMount
			for i, m := range c.VolumeMounts {
				if m.Name == "policy" {
					mount = &c.VolumeMounts[i]
				}
			}
			if mount == nil || mount.MountPath != filepath.Dir(policyFile) || !mount.ReadOnly || mount.SubPath != "" {
				t.Errorf("%s: %s: policy mount %+v, want %s read-only, no subPath", site, c.Name, mount, filepath.Dir(policyFile))
			}
		}
		if workloads != 6 {
			t.Errorf("%s: %d workloads, want 6", site, workloads)
		}
		switch {
		case cm == nil:
			t.Fatalf("%s: no ConfigMap meshwork-policy", site)
		case cm.Name != PolicyConfigMap || cm.Namespace != ns:
			t.Errorf("%s: ConfigMap %s/%s, want %s/%s (no hash suffix: an edit must update the pods' file, not roll them)", site, cm.Namespace, cm.Name, ns, PolicyConfigMap)
		case cm.Data["policy.yaml"] != string(example):
			t.Errorf("%s: the ConfigMap's policy.yaml is not the component's example", site)
		}
		// The example's principals: the overlay's KafkaUsers for the
		// services, admin and viewer for people.
		users := map[string]bool{}
		for _, o := range typed {
			if u, ok := o.(*KafkaUser); ok {
				users[u.Name] = true
			}
		}
		for _, s := range []string{p.File().Services.Replicator, p.File().Services.Registry, p.File().Services.MQTT,
			p.File().Services.AMQP, p.File().Services.REST, p.File().Services.ControlPlane} {
			if !users[s] {
				t.Errorf("%s: the example's service principal %q is no KafkaUser of the overlay", site, s)
			}
		}
	}
	for _, q := range []struct {
		principal, action, resource string
		allowed                     bool
	}{
		{"admin", "write", "subject:shop.orders-value", true},
		{"admin", "delete", "subject:shop.payments-value", false},
		{"viewer", "read", "subject:shop.orders-value", true},
		{"viewer", "write", "subject:shop.orders-value", false},
		{"viewer", "produce", "topic:shop.orders", false},
		{"mesh-registry", "write", "subject:shop.orders-value", true},
		{"mesh-rest", "produce", "topic:shop.orders", true},
		{"mesh-rest", "produce", "topic:plant.line1", false},
		{"mesh-controlplane-west", "interest", "topic:shop.orders", true},
		{"anonymous", "read", "mesh", false},
	} {
		if got := p.Decide(q.principal, q.action, q.resource).Allowed; got != q.allowed {
			t.Errorf("example policy: %s %s %s allowed %v, want %v", q.principal, q.action, q.resource, got, q.allowed)
		}
	}
}

// mountOf returns the policy mount of a workload's generic tree.
func mountOf(m map[string]any) map[string]any {
	for _, v := range container(m)["volumeMounts"].([]any) {
		if vm := v.(map[string]any); vm["name"] == "policy" {
			return vm
		}
	}
	panic("no policy mount")
}

func setConfig(old, new string) func(m map[string]any) {
	return func(m map[string]any) {
		d := at(m, "data").(map[string]any)
		d["config.yaml"] = strings.Replace(d["config.yaml"].(string), old, new, 1)
	}
}

// A policy the services could not read, or would not see change, or
// would not enforce, fails the check with the workload and the fix named.
func TestPolicyComponentBroken(t *testing.T) {
	with := policyOverlay(t, "east", nil)
	section := "policy:\n  file: " + policyFile + "\n"
	for _, c := range []struct {
		name string
		objs func() []Object
		want string
	}{
		{"configuration without policy.file", func() []Object {
			return edit(t, with, "ConfigMap", "mesh-registry-config", setConfig(section, ""))
		}, "Deployment/meshwork-east/mesh-registry: container mesh-registry: mounts the policy (ConfigMap meshwork-policy at /etc/meshwork-policy), but its configuration has no policy.file"},
		{"policy.file without the component", func() []Object {
			return edit(t, build(t, "east"), "ConfigMap", "mesh-mqtt-config", func(m map[string]any) {
				d := at(m, "data").(map[string]any)
				d["config.yaml"] = d["config.yaml"].(string) + "\n" + section
			})
		}, "StatefulSet/meshwork-east/mesh-mqtt: container mesh-mqtt: policy.file /etc/meshwork-policy/policy.yaml is in no volume the container mounts"},
		{"policy.file elsewhere", func() []Object {
			return edit(t, with, "ConfigMap", "mesh-amqp-config", setConfig(policyFile, "/etc/policy/policy.yaml"))
		}, "container mesh-amqp: policy.file /etc/policy/policy.yaml is in no volume"},
		{"wrong file name", func() []Object {
			return edit(t, with, "ConfigMap", "mesh-amqp-config", setConfig(policyFile, "/etc/meshwork-policy/mesh-policy.yaml"))
		}, `ConfigMap meshwork-policy of the build has no key "mesh-policy.yaml"`},
		{"subPath mount", func() []Object {
			return edit(t, with, "Deployment", "mesh-registry", func(m map[string]any) {
				vm := mountOf(m)
				vm["mountPath"], vm["subPath"] = policyFile, "policy.yaml"
			})
		}, "container mesh-registry: policy.file /etc/meshwork-policy/policy.yaml (volume policy at /etc/meshwork-policy/policy.yaml): mounted by subPath"},
		{"writable mount", func() []Object {
			return edit(t, with, "Deployment", "mesh-replicator", func(m map[string]any) { mountOf(m)["readOnly"] = false })
		}, "container mesh-replicator: policy.file /etc/meshwork-policy/policy.yaml (volume policy at /etc/meshwork-policy): mount it readOnly: true"},
		{"mount inside the configuration's", func() []Object {
			objs := edit(t, with, "Deployment", "mesh-controlplane", func(m map[string]any) { mountOf(m)["mountPath"] = "/etc/meshwork/policy" })
			return edit(t, objs, "ConfigMap", "mesh-controlplane-config", setConfig(policyFile, "/etc/meshwork/policy/policy.yaml"))
		}, "the mount is inside volume config's mount at /etc/meshwork"},
		{"volume not the ConfigMap", func() []Object {
			return edit(t, with, "Deployment", "mesh-registry", func(m map[string]any) {
				for _, v := range at(m, "spec", "template", "spec", "volumes").([]any) {
					if vm := v.(map[string]any); vm["name"] == "policy" {
						delete(vm, "configMap")
						vm["emptyDir"] = map[string]any{}
					}
				}
			})
		}, "volume policy at /etc/meshwork-policy): the volume is not a ConfigMap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := check(t, c.objs())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one containing %q", err, c.want)
			}
		})
	}
}

// An overlay replaces the example policy with its own as the component
// says (a component of its own whose generator replaces the ConfigMap; the
// overlay's own generators run before its components): its policy is what the
// pods mount and what the check parses; a policy that does not parse, or
// whose services are not the overlay's KafkaUsers, fails with file, line
// and field.
func TestPolicyReplaced(t *testing.T) {
	for _, c := range []struct{ name, policy, want string }{
		{"own policy", "rules:\n  - principals: [ops]\n    actions: [read]\n    resources: [mesh]\n", ""},
		{"unknown action", "rules:\n  - principals: [ops]\n    actions: [publish]\n    resources: [\"topic:a\"]\n",
			"ConfigMap/meshwork-east/meshwork-policy/policy.yaml:3"},
		{"empty", "\n", "the policy file is empty"},
		{"service principal of no KafkaUser", "rules: []\nservices:\n  registry: svc-registry\n",
			`services.registry is "svc-registry", but there is no KafkaUser of that name in meshwork-east`},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := policyOverlay(t, "east", &c.policy)
			for _, o := range mustDecode(t, objs) {
				if cm, ok := o.(*corev1.ConfigMap); ok && cm.Name == PolicyConfigMap && cm.Data["policy.yaml"] != c.policy {
					t.Fatalf("the overlay's policy did not replace the example: %q", cm.Data["policy.yaml"])
				}
			}
			err := check(t, objs)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v\nwant one containing %q", err, c.want)
			}
		})
	}
}

// The Kafka ACLs a policy implies for a service that its KafkaUser does
// not grant are reported; what the KafkaUser grants (by name, prefix or *)
// is not.
func TestPolicyUsersGaps(t *testing.T) {
	pol := "rules:\n  - principals: [mesh-mqtt]\n    actions: [produce]\n    resources: [\"topic:plant.*\", \"topic:orders.*\"]\n" +
		"services:\n  replicator: mesh-replicator\n"
	gaps, err := PolicyUsers(mustDecode(t, policyOverlay(t, "east", &pol)))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(gaps, "\n")
	for _, want := range []string{
		"KafkaUser/meshwork-east/mesh-mqtt does not grant ALLOW WRITE on PREFIXED TOPIC orders.",
		"KafkaUser/meshwork-east/mesh-replicator does not grant ALLOW WRITE on PREFIXED TRANSACTIONAL_ID meshwork-replicator.",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("gaps:\n%s\nwant %q", all, want)
		}
	}
	for _, not := range []string{"TOPIC plant.", "mesh-replicator does not grant ALLOW READ on LITERAL TOPIC *", "CLUSTER"} {
		if strings.Contains(all, not) {
			t.Errorf("gaps:\n%s\nhold %q, which the KafkaUser grants", all, not)
		}
	}
}

func TestStrimziOperation(t *testing.T) {
	for in, want := range map[string]string{"READ": "Read", "DESCRIBE_CONFIGS": "DescribeConfigs", "IDEMPOTENT_WRITE": "IdempotentWrite"} {
		if got := strimziOperation(in); got != want {
			t.Errorf("strimziOperation(%s) = %s, want %s", in, got, want)
		}
	}
}
