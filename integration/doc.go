// Package integration holds Meshwork's end-to-end tests. They run against
// real services (Apache Kafka in KRaft mode, Mosquitto, RabbitMQ, ActiveMQ)
// started by deploy/dev/up.sh, and use clients that Meshwork did not write
// (sarama, kcat, kafkajs, mosquitto_pub, paho-mqtt and qpid-proton for
// Python) as independent witnesses. Run them with `make e2e`; they read the
// services' addresses from the environment that deploy/dev/up.sh writes to
// .e2e/env.sh.
package integration
