// Package kafkatest is the test kit for code that talks to Kafka: an
// in-process cluster (franz-go's kfake) per test, clients of it, the mesh's
// client configuration that reaches it, and the few waits every such test
// needs (read n records, wait for a condition), each bounded by a deadline.
// Tests import it instead of setting kfake up by hand.
package kafkatest
