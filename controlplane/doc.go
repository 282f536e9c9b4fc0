// Package controlplane holds the mesh's topology and answers operators'
// questions from one place: which sites and links exist and how healthy
// they are, what flows where (the catalog of every topic at every site:
// partitions, offsets and rate, schema, consumer groups and their lag,
// interest leases, replication flows and their lag, producers seen), and
// it declares and withdraws interest. meshctl and the web console are its
// clients, over the HTTP API described at /openapi.json.
//
// The topology comes from mesh.yaml (package meshfile), followed while the
// control plane runs. Everything else is gathered in the background, every
// refresh_interval, from each site's Kafka (kadm), schema registry and
// services' admin endpoints, and kept as one snapshot that every request
// reads: a request never waits on a cluster.
//
// Other parts of the control plane (the index of event traces) run with it
// and serve their routes on its API through the Attach option.
package controlplane
