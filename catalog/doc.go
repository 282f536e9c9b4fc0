// Package catalog is the mesh-wide topic catalog: which site holds which
// topic, with how many partitions and which configs, as its origin or as a
// copy.
//
// Each site's replicator publishes an Entry for every topic of its site to
// the site's compacted _mesh.catalog (Topic), and the replicators carry
// every site's entries to every site, as they carry _mesh.interest. From
// the catalog each site creates an empty copy of the topics other sites
// hold as their origin, with the origin's partition count and configs, so
// that a consumer anywhere, of any Kafka client, finds a remote topic at
// once, joins its group, and becomes interest; records then flow. A copy is
// made only of an origin, so a topic deleted where it began is never
// brought back from a copy.
//
//   - Entry and Codec: the TopicCatalogEntry contract
//     (schemas/topic-catalog.avsc) as a Go value, its key, its Avro encoding.
//   - Table: every entry read from a cluster's _mesh.catalog.
//   - Read, EnsureTopic: the whole catalog once; the topic itself.
package catalog
