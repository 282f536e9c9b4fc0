package replicator

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/meshfile"
	"github.com/meshwork/meshwork/replicator/topology"
)

// Config configures the replicator of one site. Its YAML form:
//
//	site: west                      # the site this replicator writes to
//	listen: 127.0.0.1:8084          # /metrics, /healthz, /readyz
//	kafka: {brokers: [west-kafka:9092]}  # this site's cluster
//	sites:                          # every site of the mesh and its Kafka
//	  - name: east
//	    kafka: {brokers: [east-kafka:9092]}
//	  - name: west                  # this site: its cluster is kafka above
//	links: []                       # empty: a full mesh; else like [east-west, west-north]
//	mode: exactly_once              # or at_least_once
//	schemas_primary: east           # _schemas is copied from here to every site
//	interest:
//	  declared: [{topic: shop.order.created}]
type Config struct {
	service.Common `yaml:",inline"`
	// MeshFile names the mesh's mesh.yaml, the one source of truth for the
	// mesh's sites, links and policies (see meshfile). With it, sites and
	// links come from that file and are not given here; its policies
	// replication_mode and schemas_primary, when set, override mode and
	// schemas_primary; the site's interest there joins interest.declared;
	// and kafka may be left out, to use this site's cluster as the file
	// declares it. The replicator follows the file: a change of the site's
	// interest applies at once, a change of its sites, links or policies
	// at the next restart (until then it is reported).
	MeshFile string `yaml:"mesh_file,omitempty"`
	// Sites lists every site of the mesh, this one included, with the
	// Kafka cluster of each other site. This site's entry may leave kafka
	// out (its cluster is the kafka above) or repeat the same brokers.
	// Prefer mesh_file, which every replicator of the mesh shares.
	Sites []Site `yaml:"sites"`
	// Links are the pairs of sites that can read from each other, as
	// "a-b"; none means every site reads from every other (a full mesh).
	Links []string `yaml:"links,omitempty"`
	// Mode is exactly_once (transactions; the default) or at_least_once.
	Mode string `yaml:"mode"`
	// SchemasPrimary names the site whose _schemas topic (the schema
	// registry's log) every other site receives; empty: none.
	SchemasPrimary string `yaml:"schemas_primary,omitempty"`
	// Interest configures where interest comes from.
	Interest Interest `yaml:"interest"`
	// Catalog configures the mesh's topic catalog and the empty copies of
	// other sites' topics made here.
	Catalog Catalog `yaml:"catalog"`
	// Flow tunes copying.
	Flow Flow `yaml:"flow"`
	// ReplicationFactor of topics the replicator creates; -1 uses the
	// broker's default.
	ReplicationFactor int16 `yaml:"replication_factor,omitempty"`

	// meshRead: MeshFile's content is in Sites, Links and the policies.
	meshRead bool
}

// Site is one site of the mesh.
type Site struct {
	// Name is the site's name, as its services give it in site.
	Name string `yaml:"name"`
	// Kafka is the site's cluster; this replicator reads from it. It may
	// be left out for this replicator's own site.
	Kafka kafkaclient.Config `yaml:"kafka,omitempty"`
}

// Interest configures the interest this replicator publishes for its site
// and how it reads interest.
type Interest struct {
	// Declared lists topics (or patterns) this site wants whatever
	// consumes them.
	Declared []Declared `yaml:"declared,omitempty"`
	// Discover turns on discovery of the site's consumer groups.
	Discover bool `yaml:"discover"`
	// DiscoveryInterval is how often consumer groups are scanned.
	DiscoveryInterval time.Duration `yaml:"discovery_interval"`
	// LeaseTTL is how long a lease lives without renewal.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// ExcludeGroups are group id prefixes that are not interest, besides
	// meshwork- (the mesh's own groups) and _ (internal ones).
	ExcludeGroups []string `yaml:"exclude_groups,omitempty"`
}

// Catalog configures the topic catalog: this replicator publishes its
// site's topics to it, and creates here an empty copy of every topic
// another site holds as its origin, with the origin's partitions and
// configs, so that a consumer of any client finds it at once. Records flow
// into a copy only while something here consumes it. Topics starting with
// _ (the mesh's, the registry's and Kafka's own) are never copied.
type Catalog struct {
	// Materialize creates the copies; off, this site only publishes its
	// topics, and a topic of another site appears here once something
	// declares interest in it or creates it.
	Materialize bool `yaml:"materialize"`
	// Include lists RE2 patterns of the topic names to copy here (whole
	// names); none copies every topic.
	Include []string `yaml:"include,omitempty"`
	// Exclude lists RE2 patterns of topic names never copied here, even if
	// included. A copy an operator deletes is made again unless excluded.
	Exclude []string `yaml:"exclude,omitempty"`
	// ScanInterval is how often the replicator looks at its site's topics
	// to publish new, grown and deleted ones.
	ScanInterval time.Duration `yaml:"scan_interval"`
}

// Declared is an interest declared in the configuration.
type Declared struct {
	// Topic is the topic this site wants, or with pattern an RE2 regular
	// expression matched against whole topic names.
	Topic string `yaml:"topic"`
	// Pattern makes topic a regular expression.
	Pattern bool `yaml:"pattern,omitempty"`
	// Resume says where copying starts when the interest returns after a
	// pause: checkpoint (default), latest, earliest or time:RFC3339.
	Resume string `yaml:"resume,omitempty"`
}

// Flow tunes how records are copied.
type Flow struct {
	// Slots split the work among the site's replicator replicas: each
	// source partition belongs to one slot, and each (source site, slot)
	// is one transactional producer.
	Slots int `yaml:"slots"`
	// MaxBatchBytes bounds the records one transaction carries.
	MaxBatchBytes int `yaml:"max_batch_bytes"`
	// FetchMaxWait is how long a fetch from a source site waits for data
	// when there is none. A record ends the wait at once, so it bounds only
	// how often an idle flow asks its source (and how soon a partition
	// added to a flow is first fetched).
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// TransactionInterval spaces, in exactly-once mode, the transactions
	// of a flow at least this far apart: what arrives in between joins the
	// next one. Each transaction costs the brokers round trips and log
	// writes, so bounding their rate lowers the latency under load, while
	// a record that finds the flow idle goes at once. 0 commits each fetch.
	TransactionInterval time.Duration `yaml:"transaction_interval"`
	// BandwidthLimit caps the bytes per second read from each source site;
	// 0 means no limit.
	BandwidthLimit int64 `yaml:"bandwidth_limit,omitempty"`
	// PlanInterval is how often the replicator looks again at topics and
	// partitions at the other sites, besides every change of interest.
	PlanInterval time.Duration `yaml:"plan_interval"`
	// CheckpointInterval bounds how long progress over records that are
	// not copied (they came from elsewhere) waits to be checkpointed; in
	// at-least-once mode it is how often any positions are written.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// FailingAfter is how long a flow may keep failing (every attempt
	// ending in an error and a restart with backoff, no commit in between)
	// before /readyz reports the replicator not ready. Short failures (a
	// broker restarting) heal by themselves and only show in the metrics.
	FailingAfter time.Duration `yaml:"failing_after"`
	// SilentAfter is how long a source site may leave every request of the
	// flows reading it unanswered (a network partition, a cluster down)
	// before /readyz reports the replicator not ready. A healthy source
	// answers a flow's fetch at least every fetch_max_wait, so this must be
	// longer; the flows resume by themselves when the source answers.
	SilentAfter time.Duration `yaml:"silent_after"`
}

// Modes of copying.
const (
	ExactlyOnce = "exactly_once"
	AtLeastOnce = "at_least_once"
)

// DefaultConfig returns the defaults a configuration file overrides.
func DefaultConfig() Config {
	return Config{
		Common:  service.DefaultCommon("127.0.0.1:8084", kafkaclient.Defaults()),
		Mode:    ExactlyOnce,
		Catalog: Catalog{Materialize: true, ScanInterval: 2 * time.Second},
		Interest: Interest{
			Discover:          true,
			DiscoveryInterval: 5 * time.Second,
			LeaseTTL:          30 * time.Second,
		},
		Flow: Flow{
			Slots:               8,
			MaxBatchBytes:       1 << 20,
			FetchMaxWait:        500 * time.Millisecond,
			TransactionInterval: 5 * time.Millisecond,
			PlanInterval:        10 * time.Second,
			CheckpointInterval:  5 * time.Second,
			FailingAfter:        time.Minute,
			SilentAfter:         5 * time.Second,
		},
		ReplicationFactor: -1,
	}
}

// Validate checks the configuration, with the mesh file it names; errors
// name fields by YAML path (and the mesh file's by its own file and line).
func (c *Config) Validate() error {
	if c.MeshFile != "" && !c.meshRead {
		r, err := c.withMesh()
		if err != nil {
			return err
		}
		return r.Validate()
	}
	return c.validate()
}

// withMesh returns the configuration with the sites, links and policies of
// its mesh file.
func (c Config) withMesh() (Config, error) {
	if c.MeshFile == "" || c.meshRead {
		return c, nil
	}
	if len(c.Sites) > 0 || len(c.Links) > 0 {
		return c, config.Errorf("mesh_file", "sites and links come from %s; remove them from this file (the mesh file is the one source of truth)", c.MeshFile)
	}
	m, err := meshfile.Load(c.MeshFile)
	if err != nil {
		return c, config.Errorf("mesh_file", "%v", err)
	}
	return c.withMeshOf(m)
}

// withMeshOf returns the configuration with the sites, links and policies
// of m, its mesh file's content.
func (c Config) withMeshOf(m *meshfile.Mesh) (Config, error) {
	own, ok := m.Site(c.Site)
	if !ok {
		return c, config.Errorf("site", "%s has no site %q (its sites are %s); add it there, or fix site here",
			c.MeshFile, c.Site, strings.Join(m.SiteNames(), ", "))
	}
	if len(c.Kafka.Brokers) == 0 {
		c.Kafka = own.Kafka
	}
	for _, s := range m.Sites {
		site := Site{Name: s.Name, Kafka: s.Kafka}
		if s.Name == c.Site {
			site.Kafka = kafkaclient.Config{} // this site's cluster is kafka
		}
		c.Sites = append(c.Sites, site)
	}
	c.Links = slices.Clone(m.Links)
	for _, in := range own.Interest {
		c.Interest.Declared = append(c.Interest.Declared, Declared{Topic: in.Topic, Pattern: in.Pattern, Resume: in.Resume})
	}
	if p := m.Policies.ReplicationMode; p != "" {
		c.Mode = p
	}
	if p := m.Policies.SchemasPrimary; p != "" {
		c.SchemasPrimary = p
	}
	c.meshRead = true
	return c, nil
}

func (c *Config) validate() error {
	errs := []error{c.Common.Validate()}
	names := map[string]bool{}
	for i := range c.Sites {
		s := &c.Sites[i]
		if err := envelope.ValidSite(s.Name); err != nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("sites[%d].name", i), "%v", err))
		}
		if names[s.Name] {
			errs = append(errs, config.Errorf(fmt.Sprintf("sites[%d].name", i), "site %q is listed twice", s.Name))
		}
		names[s.Name] = true
		field := fmt.Sprintf("sites[%d].kafka", i)
		switch {
		case s.Name != c.Site:
			errs = append(errs, config.Nest(field, s.Kafka.Validate()))
		case len(s.Kafka.Brokers) > 0 && !slices.Equal(s.Kafka.Brokers, c.Kafka.Brokers):
			errs = append(errs, config.Errorf(field, "this is the replicator's own site, whose cluster is kafka (%s); leave it out here or give the same brokers",
				strings.Join(c.Kafka.Brokers, ",")))
		}
	}
	if !names[c.Site] && c.Site != "" {
		errs = append(errs, config.Errorf("sites", "site %q (this replicator's) is not listed; add it with its Kafka cluster", c.Site))
	}
	if len(c.Sites) > 0 {
		if _, err := c.topology(); err != nil {
			errs = append(errs, config.Errorf("links", "%v", err))
		}
	}
	if c.Mode != ExactlyOnce && c.Mode != AtLeastOnce {
		errs = append(errs, config.Errorf("mode", "want %s or %s, got %q", ExactlyOnce, AtLeastOnce, c.Mode))
	}
	if c.SchemasPrimary != "" && !names[c.SchemasPrimary] {
		errs = append(errs, config.Errorf("schemas_primary", "no site %q in sites", c.SchemasPrimary))
	}
	for i, d := range c.Interest.Declared {
		if d.Topic == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("interest.declared[%d].topic", i), "required"))
		}
		if _, _, err := interest.ParseResume(d.Resume); err != nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("interest.declared[%d].resume", i), "%v", err))
		}
	}
	for field, pats := range map[string][]string{"catalog.include": c.Catalog.Include, "catalog.exclude": c.Catalog.Exclude} {
		for i, p := range pats {
			if _, err := regexp.Compile(`^(?:` + p + `)$`); err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s[%d]", field, i), "%q is not an RE2 regular expression: %v", p, err))
			}
		}
	}
	if c.Catalog.ScanInterval < 100*time.Millisecond {
		errs = append(errs, config.Errorf("catalog.scan_interval", "must be at least 100ms, got %s", c.Catalog.ScanInterval))
	}
	if c.Interest.LeaseTTL < time.Second {
		errs = append(errs, config.Errorf("interest.lease_ttl", "must be at least 1s, got %s", c.Interest.LeaseTTL))
	}
	if c.Interest.Discover && c.Interest.DiscoveryInterval <= 0 {
		errs = append(errs, config.Errorf("interest.discovery_interval", "must be positive"))
	}
	if c.Flow.Slots < 1 || c.Flow.Slots > 1024 {
		errs = append(errs, config.Errorf("flow.slots", "want 1 to 1024, got %d", c.Flow.Slots))
	}
	if c.Flow.MaxBatchBytes < 1<<10 {
		errs = append(errs, config.Errorf("flow.max_batch_bytes", "must be at least 1024, got %d", c.Flow.MaxBatchBytes))
	}
	if c.Flow.FetchMaxWait < 10*time.Millisecond {
		errs = append(errs, config.Errorf("flow.fetch_max_wait", "must be at least 10ms (Kafka's minimum), got %s", c.Flow.FetchMaxWait))
	}
	if c.Flow.TransactionInterval < 0 || c.Flow.TransactionInterval > time.Minute {
		errs = append(errs, config.Errorf("flow.transaction_interval", "want 0 to 1m, got %s", c.Flow.TransactionInterval))
	}
	if c.Flow.BandwidthLimit < 0 {
		errs = append(errs, config.Errorf("flow.bandwidth_limit", "must not be negative"))
	}
	if c.Flow.PlanInterval <= 0 || c.Flow.CheckpointInterval <= 0 || c.Flow.FailingAfter <= 0 {
		errs = append(errs, config.Errorf("flow", "plan_interval, checkpoint_interval and failing_after must be positive"))
	}
	if c.Flow.SilentAfter <= 2*c.Flow.FetchMaxWait {
		errs = append(errs, config.Errorf("flow.silent_after", "must be more than twice flow.fetch_max_wait (%s), got %s: a healthy source answers a fetch every fetch_max_wait",
			c.Flow.FetchMaxWait, c.Flow.SilentAfter))
	}
	return errors.Join(errs...)
}

// topology builds the mesh's topology from the configured sites and links.
func (c *Config) topology() (*topology.Topology, error) {
	names := make([]string, len(c.Sites))
	for i, s := range c.Sites {
		names[i] = s.Name
	}
	links := make([][2]string, 0, len(c.Links))
	for _, l := range c.Links {
		p, err := topology.ParseLink(l)
		if err != nil {
			return nil, err
		}
		links = append(links, p)
	}
	return topology.New(names, links)
}

// UnmarshalYAML gives a site's kafka block the same defaults as the
// service's own before decoding.
func (s *Site) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Site
	p := plain{Kafka: kafkaclient.Defaults()}
	if err := unmarshal(&p); err != nil {
		return err
	}
	*s = Site(p)
	return nil
}

// site returns the configuration of the named site; this replicator's own
// site has the cluster of kafka.
func (c *Config) site(name string) (Site, bool) {
	if name == c.Site {
		return Site{Name: name, Kafka: c.Kafka}, true
	}
	for _, s := range c.Sites {
		if s.Name == name {
			return s, true
		}
	}
	return Site{}, false
}
