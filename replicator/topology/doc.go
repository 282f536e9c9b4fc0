// Package topology decides which records each site's replicator copies and
// from which neighbour, given the sites, the links between them and which
// sites are interested in which topics. It is pure routing logic: no Kafka,
// no clock, no state beyond the configuration it was built from, so every
// site computes the same answers from the same configuration.
//
// # Pulling along one tree per origin
//
// A site's replicator pulls: it reads from neighbouring clusters and writes
// only into its own, so the copies and the source positions can be committed
// in one transaction of the local cluster. It can read only from sites it has
// a link to; no links configured means a full mesh.
//
// For every origin O (the site where an event entered the mesh, the
// mesh_origin header) there is one shortest-path tree rooted at O, and a site
// S copies O's records only from its parent in that tree, NextHop(S, O). A
// record therefore has exactly one way into each site, which is what makes
// delivery exactly-once without any de-duplication store: the parent holds at
// most one copy (by induction from O, which holds the original), and S
// accepts only that one. The path the copy arrives by is Route(O, S), which
// is also the mesh_path it carries there.
//
// Ties between equally short routes are broken locally and by name: S pulls
// from the lexically smallest of its neighbours that are one hop closer to
// O. That rule depends neither on the order in which sites and links were
// listed nor on anything but the configuration, so the sites agree on every
// tree without talking to each other.
//
// # Accept: the per-record rule
//
// Accept(site, from, origin, path) is the check a replicator makes before
// copying a record: from must be NextHop(site, origin), site must not be the
// origin, and site must not already be on the record's path. A record without
// mesh_origin counts as produced at the site it is read from. The path test
// never fires while all sites share one configuration (a tree route never
// revisits a site); it is there for the time when they do not, during a
// rollout of changed links, where two sites could each name the other as
// their next hop. It then stops the loop: a copy's path never repeats a site,
// so there are finitely many copies and replication comes to rest.
//
// When it copies, a replicator stamps the record: mesh_origin becomes the
// origin (from, when the header was absent) and mesh_path becomes the path
// read (or just the origin, when absent) followed by the copying site.
// Without the stamp the copy would look produced at the copying site and
// would travel on as a record of a different origin.
//
// # Interest and transit
//
// A site receives a topic only if some site needs it there. Site S must hold
// the records of topic t from origin O exactly when some site D interested in
// t, other than O, has S on its pull chain toward O: D, NextHop(D, O),
// NextHop(NextHop(D, O), O), ... up to but excluding O. D is on its own
// chain, so an interested site holds what it wants; the other sites on the
// chain hold the records in transit, because D can read only from its
// neighbour, which must have them first. In a chain a-b-c where only c wants
// t and a produces it, b carries t from a for c. These sites are the union of
// the interested sites' routes from O, the smallest set that lets every
// interested site pull from its next hop (Holders).
//
// Plan turns this into what one site's replicator reads: one Pull per topic
// and neighbour, with the origins to keep and the interested sites it serves
// (For), so the replicator can log "carrying t from b for c" when it is not
// itself interested. Interest is global: every replicator plans from the
// interest of all sites. In a full mesh every route is one hop, so a site
// pulls each topic it wants straight from each origin and no site ever
// carries a topic it is not interested in.
//
// The guarantees above hold while all sites use the same topology and
// interest; the package's tests check them by replicating random records
// over random connected meshes using nothing but Plan and Accept.
package topology
