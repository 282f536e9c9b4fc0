package validate

import (
	"errors"
	"fmt"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workload is a Deployment or StatefulSet: what the policy looks at.
type workload struct {
	id       string
	ns       string
	selector *metav1.LabelSelector
	pod      corev1.PodTemplateSpec
}

// Policy checks the typed objects of one overlay's build against what a
// Meshwork deployment must be, and returns every violation:
//
//   - every container and init container: an image pinned by a tag other
//     than latest (or a digest); CPU and memory requests and limits;
//     runAsNonRoot with a non-zero UID, readOnlyRootFilesystem,
//     allowPrivilegeEscalation false, all capabilities dropped, seccomp
//     RuntimeDefault (each from the container or its pod);
//   - every service container: a readiness probe on /readyz and a
//     liveness probe on /healthz;
//   - every workload: a PodDisruptionBudget, a Service and a
//     ServiceMonitor that select it, and the ConfigMaps it mounts;
//   - every KafkaUser and KafkaNodePool: a Kafka of the cluster they name.
func Policy(objs []any) error {
	var errs []error
	var works []workload
	var pdbs []*policyv1.PodDisruptionBudget
	var services []*corev1.Service
	var monitors []*monitoringv1.ServiceMonitor
	configMaps := map[string]bool{}
	kafkas := map[string]bool{}
	var strimziRefs []struct{ id, ns, cluster string }
	for _, o := range objs {
		switch x := o.(type) {
		case *appsv1.Deployment:
			works = append(works, workload{"Deployment/" + x.Namespace + "/" + x.Name, x.Namespace, x.Spec.Selector, x.Spec.Template})
		case *appsv1.StatefulSet:
			works = append(works, workload{"StatefulSet/" + x.Namespace + "/" + x.Name, x.Namespace, x.Spec.Selector, x.Spec.Template})
		case *appsv1.DaemonSet:
			works = append(works, workload{"DaemonSet/" + x.Namespace + "/" + x.Name, x.Namespace, x.Spec.Selector, x.Spec.Template})
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, x)
		case *corev1.Service:
			services = append(services, x)
		case *monitoringv1.ServiceMonitor:
			monitors = append(monitors, x)
		case *corev1.ConfigMap:
			configMaps[x.Namespace+"/"+x.Name] = true
		case *corev1.Secret:
			errs = append(errs, fmt.Errorf("%s: secrets are referenced, never written into the manifests", "Secret/"+x.Namespace+"/"+x.Name))
		case *Kafka:
			kafkas[x.Namespace+"/"+x.Name] = true
		case *KafkaNodePool:
			strimziRefs = append(strimziRefs, struct{ id, ns, cluster string }{"KafkaNodePool/" + x.Namespace + "/" + x.Name, x.Namespace, x.Labels["strimzi.io/cluster"]})
		case *KafkaUser:
			strimziRefs = append(strimziRefs, struct{ id, ns, cluster string }{"KafkaUser/" + x.Namespace + "/" + x.Name, x.Namespace, x.Labels["strimzi.io/cluster"]})
		}
	}
	for _, r := range strimziRefs {
		if !kafkas[r.ns+"/"+r.cluster] {
			errs = append(errs, fmt.Errorf("%s: strimzi.io/cluster names %q, but there is no Kafka of that name in %s", r.id, r.cluster, r.ns))
		}
	}
	for _, w := range works {
		errs = append(errs, checkPod(w.id, w.pod.Spec))
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || sel.Empty() {
			errs = append(errs, fmt.Errorf("%s: spec.selector: %v (a workload needs a non-empty selector)", w.id, err))
			continue
		}
		podLabels := labels.Set(w.pod.Labels)
		if !sel.Matches(podLabels) {
			errs = append(errs, fmt.Errorf("%s: the selector does not match the pod template's labels", w.id))
		}
		if !anyPDB(pdbs, w.ns, podLabels) {
			errs = append(errs, fmt.Errorf("%s: no PodDisruptionBudget selects its pods", w.id))
		}
		svc := serviceFor(services, w.ns, podLabels)
		if svc == nil {
			errs = append(errs, fmt.Errorf("%s: no Service selects its pods", w.id))
		} else if !anyMonitor(monitors, w.ns, svc) {
			errs = append(errs, fmt.Errorf("%s: no ServiceMonitor selects its Service %s", w.id, svc.Name))
		}
		for _, v := range w.pod.Spec.Volumes {
			if v.ConfigMap != nil && !configMaps[w.ns+"/"+v.ConfigMap.Name] {
				errs = append(errs, fmt.Errorf("%s: volume %s: ConfigMap %s is not in the build", w.id, v.Name, v.ConfigMap.Name))
			}
		}
	}
	for _, m := range monitors {
		for i, e := range m.Spec.Endpoints {
			if e.Port == "" {
				errs = append(errs, fmt.Errorf("ServiceMonitor/%s/%s: spec.endpoints[%d].port: name the Service's port (it survives port renumbering)", m.Namespace, m.Name, i))
			}
		}
	}
	return errors.Join(errs...)
}

// checkPod checks the pod-level and container-level rules of a pod spec.
func checkPod(id string, pod corev1.PodSpec) error {
	var errs []error
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	if len(pod.Containers) == 0 {
		errs = append(errs, fmt.Errorf("%s: no containers", id))
	}
	for _, c := range all {
		cid := fmt.Sprintf("%s: container %s", id, c.Name)
		if err := PinnedImage(c.Image); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cid, err))
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
				errs = append(errs, fmt.Errorf("%s: resources.limits.%s is missing", cid, r))
			}
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				errs = append(errs, fmt.Errorf("%s: resources.requests.%s is missing", cid, r))
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = psc.RunAsUser
		}
		switch {
		case nonRoot == nil || !*nonRoot:
			errs = append(errs, fmt.Errorf("%s: runAsNonRoot must be true (in the container's or the pod's securityContext)", cid))
		case uid != nil && *uid == 0:
			errs = append(errs, fmt.Errorf("%s: runAsUser is 0 (root)", cid))
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			errs = append(errs, fmt.Errorf("%s: securityContext.readOnlyRootFilesystem must be true", cid))
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			errs = append(errs, fmt.Errorf("%s: securityContext.allowPrivilegeEscalation must be false", cid))
		}
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, fmt.Errorf("%s: securityContext.privileged must not be set", cid))
		}
		if sc.Capabilities == nil || !dropsAll(sc.Capabilities.Drop) || len(sc.Capabilities.Add) > 0 {
			errs = append(errs, fmt.Errorf("%s: securityContext.capabilities must drop ALL and add none", cid))
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			errs = append(errs, fmt.Errorf("%s: seccompProfile must be RuntimeDefault (container or pod)", cid))
		}
	}
	for _, c := range pod.Containers {
		cid := fmt.Sprintf("%s: container %s", id, c.Name)
		if !probes(c.ReadinessProbe, "/readyz") {
			errs = append(errs, fmt.Errorf("%s: readinessProbe must be an HTTP GET of /readyz", cid))
		}
		if !probes(c.LivenessProbe, "/healthz") {
			errs = append(errs, fmt.Errorf("%s: livenessProbe must be an HTTP GET of /healthz", cid))
		}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		errs = append(errs, fmt.Errorf("%s: host namespaces (hostNetwork, hostPID, hostIPC) must not be used", id))
	}
	return errors.Join(errs...)
}

// PinnedImage accepts an image reference with a tag other than latest, or
// a digest.
func PinnedImage(image string) error {
	if image == "" {
		return errors.New("image is empty")
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	switch {
	case !ok || tag == "":
		return fmt.Errorf("image %q has no tag: pin it (the overlay's images: newTag)", image)
	case strings.EqualFold(tag, "latest"):
		return fmt.Errorf("image %q: latest is not a version: pin a tag", image)
	}
	return nil
}

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if strings.EqualFold(string(c), "ALL") {
			return true
		}
	}
	return false
}

func probes(p *corev1.Probe, path string) bool {
	return p != nil && p.HTTPGet != nil && p.HTTPGet.Path == path
}

func anyPDB(pdbs []*policyv1.PodDisruptionBudget, ns string, pod labels.Set) bool {
	for _, p := range pdbs {
		if p.Namespace != ns {
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(pod) {
			return true
		}
	}
	return false
}

func serviceFor(services []*corev1.Service, ns string, pod labels.Set) *corev1.Service {
	for _, s := range services {
		if s.Namespace == ns && len(s.Spec.Selector) > 0 && s.Spec.ClusterIP != corev1.ClusterIPNone &&
			labels.SelectorFromSet(s.Spec.Selector).Matches(pod) {
			return s
		}
	}
	return nil
}

func anyMonitor(monitors []*monitoringv1.ServiceMonitor, ns string, svc *corev1.Service) bool {
	for _, m := range monitors {
		if m.Namespace != ns {
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(svc.Labels)) {
			return true
		}
	}
	return false
}
