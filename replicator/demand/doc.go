// Package demand is the replicator's view of the mesh's interest: which
// sites want which topics, and where a flow into a site starts.
//
// The leases themselves are the mesh-wide contract of package interest
// (Lease, Codec, Publisher). This package is what only a replicator needs
// on top of it:
//
//   - Table: every lease read from a cluster's _mesh.interest, what is
//     active at a time, which sites want which topics (Resolve, patterns
//     expanded against known topics), and where a flow starts (Policy).
//   - Watcher: follows the topic of one cluster into a Table, says when the
//     first read reached the end (Ready) and when interest changed, leases
//     expiring included (Changes).
//   - Discoverer: finds the consumer groups of the local cluster and
//     publishes their interest through an interest.Publisher.
package demand
