// Package validate checks Meshwork's deployment files without a cluster
// and without fetching anything:
//
//   - Kustomize: every overlay is built in-process (kustomize's krusty, as
//     kubectl kustomize does); each resulting object is decoded strictly
//     (unknown or duplicate fields are errors) against the Kubernetes API
//     types (k8s.io/api), the Prometheus operator's types
//     (ServiceMonitor) or a typed model of the Strimzi kafka.strimzi.io/v1beta2
//     resources Meshwork uses (Kafka, KafkaNodePool, KafkaUser).
//   - Policy: what a Meshwork pod must be (Policy): images pinned by tag or
//     digest and never latest, limits on every container, non-root,
//     read-only root file system, no capabilities, seccomp RuntimeDefault,
//     probes on /readyz and /healthz (over HTTPS exactly when the service's
//     configuration file has a tls section), a PodDisruptionBudget, a Service and
//     ServiceMonitor per workload, and references that resolve (ConfigMaps,
//     Strimzi clusters).
//   - Components: each overlay built again with a component of
//     k8s/components enabled as an operator would (ComponentOverlay). For
//     the security policy (components/policy): every service's policy.file
//     in a read-only ConfigMap directory mount of its pod (never subPath,
//     which updates never reach, so the service would never reload it),
//     the file parsed by the services' own parser (policy.Parse), and the
//     policy's services named as KafkaUsers of the overlay (PolicyUsers,
//     which also lists the Kafka ACLs the policy implies that the
//     KafkaUsers do not grant).
//   - Compose: the compose file loaded and validated with compose-go, with
//     the same image policy.
//   - systemd: systemd-analyze verify on the units, where it is installed.
//
// Every check returns all the problems it finds, each naming the object
// (kind/namespace/name) or file concerned.
package validate
