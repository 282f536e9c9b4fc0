// Package amqp bridges AMQP 1.0 brokers (ActiveMQ, Artemis, RabbitMQ) and a
// site's Kafka cluster: messages are settled Accepted only after Kafka
// acknowledged them, and Kafka records are committed only after the broker
// accepted them. The envelope travels as application-properties.
package amqp
