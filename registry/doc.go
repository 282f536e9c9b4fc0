// Package registry is the mesh's schema registry: an HTTP API compatible with
// Confluent Schema Registry that stores versioned Avro contracts in the
// _schemas Kafka topic, enforces compatibility, and keeps one schema-id space
// across every site.
package registry
