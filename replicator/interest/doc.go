// Package interest is how a site says which topics it wants from the other
// sites, and how a replicator learns it.
//
// A site is interested in a topic while something there consumes it. Each
// holder of interest (a consumer group, an adapter's egress mapping, a
// webhook, or an operator's declaration) is published as a Lease to the
// site's compacted topic _mesh.interest (Topic). A lease names one topic, or
// an RE2 pattern over topic names, and lives until its Expires time unless
// its holder renews it; a declared lease may never expire. Leases of other
// sites may be copied into the same topic, so record keys (Lease.Key) are
// unique across sites.
//
// The pieces, each in its own file:
//
//   - Lease and Codec: the InterestLease contract (schemas/interest-lease.avsc)
//     as a Go value, its record key, and its Avro binary encoding.
//   - Table: every lease read from the topic, what is active at a time, which
//     sites want which topics (Resolve), and where a flow starts (Policy).
//   - Watcher: follows the topic of one cluster into a Table, says when the
//     first read reached the end (Ready) and when interest changed, leases
//     expiring included (Changes).
//   - Publisher: owns the leases of one holder process and renews them.
//   - Discoverer: finds the consumer groups of the local cluster and publishes
//     their interest through a Publisher.
package interest
