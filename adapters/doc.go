// Package adapters is the core every protocol adapter is built on, and
// holds the adapters themselves, one package each: mqtt (devices), amqp
// (legacy applications over AMQP 1.0) and rest (web services over HTTP).
//
// An adapter maps its protocol's messages to Kafka records and back; this
// package does the rest, the same way for every protocol:
//
//   - Ingress (ingress.go): a received message becomes a Message carrying
//     its record, its envelope and a Settle function. The pipeline produces
//     with acks=all in a bounded window and settles messages in the order
//     they arrived, each only once Kafka has it (or its dead letter), so an
//     adapter acknowledges upstream (PUBACK, disposition, HTTP response)
//     only for what Kafka holds. A message that can never be written goes
//     to the dead-letter topic; one that may be written later is tried
//     again with backoff; a slow Kafka means withheld acknowledgements,
//     never unbounded memory.
//   - Egress (egress.go): a consumer group per rule hands records to a
//     Sender (the protocol's publish) in a window that slides as the peer
//     confirms, and commits a partition's offset only past records the
//     peer confirmed, in order.
//   - Bridge (bridge.go) is what a broker adapter runs: the producing
//     Kafka client, its ingress pipeline, its egress rules and their
//     interest leases, started, checked and stopped (settle in flight,
//     commit, then disconnect) with the adapter's Link to its broker.
//   - Rules (rules.go): the naming of rules and egress groups, the parts
//     every ingress rule (topic, type, content type, schema) and egress
//     rule (topics, address template) has, and the settings every adapter
//     checks alike, compiled one way for every protocol.
//   - Templates (template.go) render Kafka topics, keys and protocol
//     addresses from a message's parts; a rendered Kafka topic is checked
//     (Topic): it may never name a topic of the mesh, the registry or Kafka.
//   - Failures (classify.go): Classify is the one rule of every pipeline.
//     A permanent failure (too large, invalid record or topic, not
//     authorized for the topic, schema misfit, malformed envelope) sends
//     the message to its dead-letter topic with the reason, and the stream
//     goes on: ordered settlement never waits on a message that cannot
//     complete. A transient one (Kafka or the peer down, a leader moving,
//     a timeout, throttling) is retried with backoff, counted (retrying,
//     retries_total), and reported by Ready after NotReadyAfter. Records
//     are sized before they are produced (kafkaclient.Limits), so a record
//     that can never fit costs no round trip and never shares a refused
//     batch with valid ones.
//   - Schemas (schema.go) encode or check payloads against the registry;
//     DeadLetters (deadletter.go) writes what cannot be delivered, with its
//     reason; LeaseTopics (lease.go) makes egress topics interest, so the
//     replicator brings them to the site.
package adapters
