// Package interest is the mesh-wide contract by which a site says which
// topics it wants from the other sites.
//
// A site is interested in a topic while something there consumes it. Each
// holder of interest (a consumer group, an adapter's egress mapping, a
// webhook, or an operator's declaration) is published as a Lease to the
// site's compacted topic _mesh.interest (Topic). A lease names one topic, or
// an RE2 pattern over topic names, and lives until its Expires time unless
// its holder renews it; a declared lease may never expire. Leases of other
// sites are copied into the same topic, so record keys (Lease.Key) are
// unique across sites.
//
// Everything that holds interest uses this package: the adapters lease
// their egress topics, meshctl declares and lists interest, the replicator
// publishes what it discovers. How the replicator follows the leases and
// turns them into flows is its own business (replicator/demand).
//
//   - Lease and Codec: the InterestLease contract (schemas/interest-lease.avsc)
//     as a Go value, its record key, and its Avro binary encoding.
//   - Publisher: owns the leases of one holder process and renews them.
//   - Read: every lease of a cluster, once; EnsureTopic: the topic itself.
package interest
