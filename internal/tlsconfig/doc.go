// Package tlsconfig builds the TLS client configuration of the mesh's
// connections (Kafka, MQTT and AMQP brokers, registries) from the PEM file
// names a configuration file gives, so every service reads certificates the
// same way and reports a missing or empty file by the field that named it.
package tlsconfig
