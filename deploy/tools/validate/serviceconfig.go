package validate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/adapters/rest"
	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/registry"
	"github.com/meshwork/meshwork/replicator"
)

// parsers load a service's configuration file over its defaults, as the
// service's -config does (strict fields, then its Validate), and return its
// common block (listener TLS, policy file).
var parsers = map[string]func(name string, data []byte, env func(string) (string, bool)) (service.Common, error){
	"mesh-mqtt":         parser(mqtt.DefaultConfig),
	"mesh-amqp":         parser(amqp.DefaultConfig),
	"mesh-rest":         parser(rest.DefaultConfig),
	"mesh-replicator":   parser(replicator.DefaultConfig),
	"mesh-registry":     parser(registry.DefaultConfig),
	"mesh-controlplane": parser(controlplane.DefaultConfig),
}

func parser[C any](defaults func() C) func(string, []byte, func(string) (string, bool)) (service.Common, error) {
	return func(name string, data []byte, env func(string) (string, bool)) (service.Common, error) {
		c := defaults()
		if err := config.ParseEnv(name, data, &c, env); err != nil {
			return service.Common{}, err
		}
		return commonBlock(c), nil
	}
}

// commonBlock returns the common block of cfg, a service's configuration
// (its embedded Common), or a zero one.
func commonBlock(cfg any) service.Common {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Struct {
		return service.Common{}
	}
	f := v.FieldByName("Common")
	if !f.IsValid() {
		return service.Common{}
	}
	common, _ := f.Interface().(service.Common)
	return common
}

// ServiceConfig checks the configuration file data of service as the
// service would load it, with env for its ${NAME} references (the values
// a pod or container would have). known is false for a service whose
// configuration type this check does not know (it is then not checked).
//
// mounts maps the paths of files mounted beside the configuration (as the
// container sees them, e.g. /etc/meshwork/mesh.yaml) to where this check
// reads them; the configuration's references to them are read from there,
// so a file a service opens at start (the control plane's mesh_file) is
// checked with it.
func ServiceConfig(service, name string, data []byte, env map[string]string, mounts map[string]string) (known bool, err error) {
	known, _, err = serviceCommon(service, name, data, env, mounts)
	return known, err
}

// serviceCommon is ServiceConfig that also returns the configuration's
// common block (whether it serves the listen address over TLS, its policy
// file).
func serviceCommon(svc, name string, data []byte, env map[string]string, mounts map[string]string) (known bool, common service.Common, err error) {
	p, ok := parsers[svc]
	if !ok {
		return false, common, nil
	}
	for in, here := range mounts {
		data = bytes.ReplaceAll(data, []byte(in), []byte(here))
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	common, err = p(name, data, lookup)
	if err != nil {
		return true, common, fmt.Errorf("%s configuration: %w", svc, err)
	}
	return true, common, nil
}

// probeScheme checks that container c probes its service with the scheme
// its listen address serves: HTTPS when the configuration has a tls
// section (a plain HTTP probe of a TLS port fails, and the pod never gets
// ready), HTTP otherwise.
func probeScheme(id string, c corev1.Container, tls bool) error {
	want, how := corev1.URISchemeHTTP, "HTTP (the default): the service's configuration has no tls section"
	if tls {
		want, how = corev1.URISchemeHTTPS, "HTTPS: the service's configuration serves its listen address over TLS (tls.cert_file); add scheme: HTTPS to the probe's httpGet (see deploy/k8s/components/https)"
	}
	var errs []error
	for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			continue // Policy reports a missing probe
		}
		got := p.HTTPGet.Scheme
		if got == "" {
			got = corev1.URISchemeHTTP
		}
		if got != want {
			errs = append(errs, fmt.Errorf("%s: container %s: %s.httpGet.scheme must be %s", id, c.Name, name, how))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// podEnv is what the configuration files of the manifests may refer to:
// the downward API's values, as a pod would have them.
var podEnv = map[string]string{"POD_NAME": "pod-0", "POD_IP": "10.0.0.1", "POD_NAMESPACE": "meshwork"}

// ConfigMaps checks the config.yaml of every ConfigMap that a workload of
// a Meshwork service mounts (its container's name is the service's), as
// the service would load it, and that the policy file it names is mounted
// (policyMount). It returns the services whose files it checked and those
// it could not (their configuration type is unknown here).
func ConfigMaps(objs []any) (checked, unknown []string, _ error) {
	cms := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			cms[cm.Namespace+"/"+cm.Name] = cm
		}
	}
	tmp, err := os.MkdirTemp("", "deploycheck-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	var errs []error
	parsed := map[string]bool{}
	for _, o := range objs {
		var ns, id string
		var pod corev1.PodSpec
		switch x := o.(type) {
		case *appsv1.Deployment:
			ns, id, pod = x.Namespace, "Deployment/"+x.Namespace+"/"+x.Name, x.Spec.Template.Spec
		case *appsv1.StatefulSet:
			ns, id, pod = x.Namespace, "StatefulSet/"+x.Namespace+"/"+x.Name, x.Spec.Template.Spec
		default:
			continue
		}
		for _, v := range pod.Volumes {
			if v.ConfigMap == nil {
				continue
			}
			cm := cms[ns+"/"+v.ConfigMap.Name]
			if cm == nil || cm.Data["config.yaml"] == "" {
				continue
			}
			for _, c := range pod.Containers {
				mounts, err := configMapFiles(tmp, cm, c, v.Name)
				if err != nil {
					return nil, nil, err
				}
				known, common, err := serviceCommon(c.Name, "ConfigMap/"+ns+"/"+cm.Name+"/config.yaml", []byte(cm.Data["config.yaml"]), podEnv, mounts)
				switch {
				case err != nil:
					errs = append(errs, err)
				case known:
					checked = append(checked, ns+"/"+c.Name)
					errs = append(errs, probeScheme(id, c, common.TLS.Enabled()), policyMount(id, ns, pod, c, common.Policy.File, cms, parsed))
				default:
					unknown = append(unknown, ns+"/"+c.Name)
				}
			}
		}
	}
	return checked, unknown, errors.Join(errs...)
}

// configMapFiles writes the files of cm that container c mounts (volume
// vol) to a temporary directory and maps their paths in the container to
// the files written.
func configMapFiles(tmp string, cm *corev1.ConfigMap, c corev1.Container, vol string) (map[string]string, error) {
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		if m.Name != vol {
			continue
		}
		dir, err := os.MkdirTemp(tmp, "configmap-")
		if err != nil {
			return nil, err
		}
		for key, data := range cm.Data {
			if key == "config.yaml" {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, key), []byte(data), 0o600); err != nil {
				return nil, err
			}
			mounts[path.Join(m.MountPath, key)] = filepath.Join(dir, key)
		}
	}
	return mounts, nil
}
