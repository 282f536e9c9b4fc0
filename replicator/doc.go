// Package replicator mirrors topics between the sites' Kafka clusters by
// interest: a site receives a topic only while something there consumes it.
// Records are copied once from their origin (or along the topology's next
// hops), never into a site already on their path, and exactly once, with the
// source position committed in the same Kafka transaction as the copies.
package replicator
