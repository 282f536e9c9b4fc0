// Package meshfile is the mesh's topology as one file, mesh.yaml: its
// sites (each with its Kafka cluster, schema registry and the admin URLs of
// its adapters and replicators), the links between them and the mesh-wide
// policies. It is the one source of truth every component that needs the
// whole mesh reads: the replicators take their sites and links from it,
// the control plane health-checks and catalogues what it declares, and
// `meshd dev` writes the one of the dev mesh.
//
//   - Mesh, Load and Parse: the file as a Go value, strictly validated, with
//     errors naming the file, line and field (internal/config).
//   - Watcher: follows the file and reloads it when it changes, keeping the
//     last valid version when a new one is invalid.
package meshfile
