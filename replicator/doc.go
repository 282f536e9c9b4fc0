// Package replicator mirrors topics between the sites' Kafka clusters by
// interest: a site receives a topic only while something there consumes it.
// Records are copied once from their origin (or along the topology's next
// hops), never into a site already on their path, and by default exactly
// once, with the source positions committed in the same Kafka transaction as
// the copies (mode at_least_once drops the transactions).
//
// Its shape:
//
//   - The Replicator plans (replicator.go): from the mesh's interest (read
//     and published through package demand, interest.go) and the topics at
//     the sites it reads from, it works out the source partitions (units)
//     its site copies, groups them by (source site, slot) into flows, and
//     starts, restarts with backoff and stops those flows.
//   - A flow copies (flow.go): it reads its units from the source and writes
//     their copies and its positions here. It sees of the Replicator only
//     its flowDeps; clients.go builds every Kafka client. A record it can
//     never copy (too large here, limits.go; malformed mesh headers) is
//     dead-lettered here in the same transaction (refused.go).
//   - The positions are the checkpoints (checkpoint.go), in the site's
//     _mesh.checkpoints, read when a flow starts.
//   - The slots (slots.go) split the flows among the site's replicas through
//     a consumer group.
package replicator
