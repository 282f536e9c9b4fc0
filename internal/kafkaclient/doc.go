// Package kafkaclient is the one place that builds franz-go clients for the
// mesh's services from configuration: seed brokers, TLS, SASL (PLAIN,
// SCRAM-SHA-256/512), client ids and the producer's durability settings.
//
// The defaults favour never losing an acknowledged event: acks=all with the
// idempotent producer, so that retries after a timeout cannot write a record
// twice. Services add their own options (consumer groups, transactions) on top.
package kafkaclient
