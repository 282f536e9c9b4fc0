package validate

import (
	"errors"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshwork/meshwork/policy"
)

// PolicyConfigMap is the ConfigMap of the mesh's security policy that the
// policy component (deploy/k8s/components/policy) mounts in every pod.
const PolicyConfigMap = "meshwork-policy"

// policyMount checks that container c of pod (workload id, namespace ns)
// can read the policy file its configuration names (file, the common
// block's policy.file), and will see it change:
//
//   - the file is in a ConfigMap volume the container mounts read-only as
//     a directory (a subPath mount is never updated, so the service would
//     never reload the policy), and the ConfigMap of the build holds it;
//   - the mount is not inside another volume's mount (the kubelet cannot
//     make a mount point in a read-only ConfigMap volume);
//   - the file parses as the services parse it (policy.Parse); parsed
//     records the files parsed, so that one error is reported once and not
//     for every pod that mounts it.
//
// A container that mounts the policy ConfigMap while its configuration
// names no policy file is refused too: the service would not enforce it.
func policyMount(id, ns string, pod corev1.PodSpec, c corev1.Container, file string, cms map[string]*corev1.ConfigMap, parsed map[string]bool) error {
	cid := fmt.Sprintf("%s: container %s", id, c.Name)
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	if file == "" {
		for _, m := range c.VolumeMounts {
			if v := volumes[m.Name]; v.ConfigMap != nil && v.ConfigMap.Name == PolicyConfigMap {
				return fmt.Errorf("%s: mounts the policy (ConfigMap %s at %s), but its configuration has no policy.file, so the service would not enforce it: add `policy: {file: %s}` to its configuration file",
					cid, PolicyConfigMap, m.MountPath, path.Join(m.MountPath, "policy.yaml"))
			}
		}
		return nil
	}
	if !path.IsAbs(file) {
		return fmt.Errorf("%s: policy.file %q: name the file by its absolute path in the container", cid, file)
	}
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if within(file, m.MountPath) && (mount == nil || len(m.MountPath) > len(mount.MountPath)) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		return fmt.Errorf("%s: policy.file %s is in no volume the container mounts: mount the policy ConfigMap there (components: [../../components/policy] in the overlay)", cid, file)
	}
	var errs []error
	where := fmt.Sprintf("%s: policy.file %s (volume %s at %s)", cid, file, mount.Name, mount.MountPath)
	if mount.SubPath != "" || mount.SubPathExpr != "" {
		errs = append(errs, fmt.Errorf("%s: mounted by subPath, which a ConfigMap's updates never reach, so the service would never reload the policy: mount the directory", where))
	}
	if !mount.ReadOnly {
		errs = append(errs, fmt.Errorf("%s: mount it readOnly: true", where))
	}
	for _, m := range c.VolumeMounts {
		if m.Name != mount.Name && m.MountPath != mount.MountPath && within(mount.MountPath, m.MountPath) {
			errs = append(errs, fmt.Errorf("%s: the mount is inside volume %s's mount at %s, where the kubelet cannot make a mount point (a ConfigMap or Secret volume is read-only): mount the policy at a directory of its own", where, m.Name, m.MountPath))
		}
	}
	v, ok := volumes[mount.Name]
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("%s: the pod has no volume %s", where, mount.Name))
	case v.ConfigMap == nil:
		errs = append(errs, fmt.Errorf("%s: the volume is not a ConfigMap (the policy component mounts ConfigMap %s)", where, PolicyConfigMap))
	default:
		key := strings.TrimPrefix(strings.TrimPrefix(file, mount.MountPath), "/")
		for _, it := range v.ConfigMap.Items {
			if it.Path == key {
				key = it.Key
			}
		}
		cm := cms[ns+"/"+v.ConfigMap.Name]
		data, has := "", false
		if cm != nil {
			data, has = cm.Data[key]
		}
		if !has {
			errs = append(errs, fmt.Errorf("%s: ConfigMap %s of the build has no key %q", where, v.ConfigMap.Name, key))
			break
		}
		name := "ConfigMap/" + ns + "/" + cm.Name + "/" + key
		if parsed[name] {
			break
		}
		parsed[name] = true
		if _, err := policy.Parse(name, []byte(data)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errors.Join(errs...)
}

// within reports whether the path p is dir or under it.
func within(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
