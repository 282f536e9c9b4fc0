// Package trace is the mesh-wide contract by which every component that
// handles an event says so: one Hop per step (received from a protocol,
// produced to Kafka, copied to another site, delivered to a peer,
// dead-lettered), written to the site's _mesh.trace topic (Topic) and
// copied by the replicators to every other site, so that the control plane
// of any site can follow one event across sites and protocols.
//
//   - Hop: the TraceHop contract (schemas/trace-hop.avsc) as a Go value.
//   - Codec: the record format of Topic. One record carries the hops of one
//     batch: its value is an Avro binary array of TraceHop (ContentType),
//     its key the component that wrote it (so that a component's records
//     stay in order in one partition), and it carries mesh_origin, the site
//     of the component, like every record of the mesh.
//   - Recorder: what a component calls for each hop. It samples (Sampled),
//     queues hops in a bounded queue that never blocks the data path (a
//     full queue drops hops and counts them), and produces them in batches
//     in the background; Start creates Topic when it is missing.
//
// Sampling is deterministic on the trace id (or on the event id of an
// event without one), with the same rule as OpenTelemetry's
// TraceIDRatioBased sampler: every component of the mesh, and the spans of
// the OpenTelemetry SDK, keep the same events. Production default: 1 event
// in 100 (DefaultSampleRate); the dev mesh traces every event.
package trace
