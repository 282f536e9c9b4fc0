// Package kafkaclient is the one place that builds franz-go clients for the
// mesh's services from configuration: seed brokers, TLS, SASL (PLAIN,
// SCRAM-SHA-256/512, OAUTHBEARER), client ids and the producer's durability
// settings.
//
// Secrets are read when a connection authenticates, not once at start (a
// password_file, an OAUTHBEARER token_file, a client secret): a secret
// rotated on disk is used from the next connection. They are read once at
// start too, so that a missing file stops the service with its field's
// name. Printed (fmt, log/slog) or encoded as JSON, a Config shows no
// secret; franz-go's own logs name the mechanism, never the credentials.
//
// The defaults favour never losing an acknowledged event: acks=all with the
// idempotent producer, so that retries after a timeout cannot write a record
// twice. Services add their own options (consumer groups, transactions) on top.
package kafkaclient
