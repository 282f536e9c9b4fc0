// Package schemas holds the mesh's Avro contracts and example event schemas,
// as .avsc files embedded in the binary.
//
// The mesh's own contracts, in namespace io.meshwork.mesh, describe the
// values of its system topics: InterestLease (interest-lease.avsc, the
// _mesh.interest topic), TopicCatalogEntry (topic-catalog.avsc,
// _mesh.catalog), TraceHop (trace-hop.avsc, _mesh.trace) and
// DeadLetter (dlq-metadata.avsc, a dead letter's metadata as one value). The
// examples directory holds two versions of two event schemas, each version 2
// adding an optional field, to show compatible evolution and to feed tests
// and the quickstart. README.md says how to register them.
//
// Services load a contract by file name with Contract or Parse; Files gives
// the files themselves.
package schemas
