// Package tlsconfig builds the TLS configurations of the mesh from the PEM
// file names a configuration file gives, so every service reads
// certificates the same way and reports a missing or empty file by the
// field that named it.
//
// Files is the client side (Kafka, MQTT and AMQP brokers, registries).
// ServerFiles and Server are the side of the mesh's own listeners (the
// HTTP APIs): a server certificate reloaded when its files change, so a
// renewal needs no restart, and optional mutual TLS whose verified client
// certificate names a principal (Identity) for the service's authorizer.
package tlsconfig
