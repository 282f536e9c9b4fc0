package meshfile

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/replicator/topology"
)

// Mesh is the content of mesh.yaml:
//
//	sites:
//	  - name: east
//	    kafka: {brokers: [east-kafka:9092]}
//	    registry: http://east-registry:8081
//	    adapters:
//	      - {name: mqtt, admin: http://east-mqtt:8083}
//	    replicators:
//	      - {name: replicator, admin: http://east-replicator:8084}
//	  - name: west
//	    kafka: {brokers: [west-kafka:9092]}
//	    interest: [{topic: shop.order.created}]
//	links: [east-west]
//	policies:
//	  replication_mode: exactly_once
//	  schemas_primary: east
type Mesh struct {
	// Sites lists every site of the mesh.
	Sites []Site `yaml:"sites"`
	// Links are the pairs of sites that can read from each other, as
	// "a-b"; none means every site reads from every other (a full mesh).
	Links []string `yaml:"links,omitempty"`
	// Policies are the rules that hold across the mesh.
	Policies Policies `yaml:"policies"`
}

// Site is one site of the mesh: a Kafka cluster and the services around it.
type Site struct {
	// Name is the site's name (lower-case letters, digits and '-'), as its
	// services give it in their site field.
	Name string `yaml:"name"`
	// Kafka is the site's cluster, with TLS and SASL as every service's
	// kafka block.
	Kafka kafkaclient.Config `yaml:"kafka"`
	// Registry is the URL of the site's schema registry; empty when the
	// site runs none.
	Registry string `yaml:"registry,omitempty"`
	// TLS is how the control plane reaches the site's https URLs (its
	// registry and the admin endpoints below): the CA that verifies them
	// (the system's roots when left out) and, where they require mutual
	// TLS, the control plane's client certificate.
	TLS tlsconfig.Files `yaml:"tls,omitempty"`
	// Adapters are the site's protocol adapters (MQTT, AMQP, REST), by the
	// URL of their admin endpoint (/readyz, /metrics, /v1/rules).
	Adapters []Endpoint `yaml:"adapters,omitempty"`
	// Replicators are the site's replicator replicas, by the URL of their
	// admin endpoint (/readyz, /metrics and /v1/status, which reports the
	// reachability of every source site).
	Replicators []Endpoint `yaml:"replicators,omitempty"`
	// Interest lists topics (or patterns) the site wants from the other
	// sites whatever consumes them there; the site's replicators declare
	// it, and follow changes of it without a restart.
	Interest []Interest `yaml:"interest,omitempty"`
}

// Interest is a site's interest declared in the mesh file.
type Interest struct {
	// Topic is the topic the site wants, or with pattern an RE2 regular
	// expression matched against whole topic names.
	Topic string `yaml:"topic"`
	// Pattern makes topic a regular expression.
	Pattern bool `yaml:"pattern,omitempty"`
	// Resume says where copying starts when the interest returns after a
	// pause: checkpoint (default), latest, earliest or time:RFC3339.
	Resume string `yaml:"resume,omitempty"`
}

// Endpoint is a service reached over HTTP.
type Endpoint struct {
	// Name tells the service apart among the site's, e.g. mqtt or amqp.
	Name string `yaml:"name"`
	// Admin is the base URL of its admin endpoint, http://host:port.
	Admin string `yaml:"admin"`
}

// Policies are mesh-wide rules.
type Policies struct {
	// ReplicationMode is how replicators copy: exactly_once (transactions)
	// or at_least_once. Empty leaves it to each replicator's own default.
	ReplicationMode string `yaml:"replication_mode,omitempty"`
	// SchemasPrimary names the site whose _schemas topic (the schema
	// registry's log) every other site receives; empty: none.
	SchemasPrimary string `yaml:"schemas_primary,omitempty"`
}

// Replication modes.
const (
	ExactlyOnce = "exactly_once"
	AtLeastOnce = "at_least_once"
)

// Load reads and validates the mesh file at path; errors name the file,
// line and field.
func Load(path string) (*Mesh, error) {
	var m Mesh
	if err := config.Load(path, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Parse is Load for a document already in memory; name is used in errors.
func Parse(name string, data []byte) (*Mesh, error) {
	var m Mesh
	if err := config.Parse(name, data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// UnmarshalYAML gives a site's kafka block the defaults of every
// service's before decoding.
func (s *Site) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Site
	p := plain{Kafka: kafkaclient.Defaults()}
	if err := unmarshal(&p); err != nil {
		return err
	}
	*s = Site(p)
	return nil
}

// Validate checks the file; errors name fields by YAML path.
func (m *Mesh) Validate() error {
	var errs []error
	if len(m.Sites) == 0 {
		errs = append(errs, config.Errorf("sites", "at least one site is required"))
	}
	names := map[string]bool{}
	for i := range m.Sites {
		s := &m.Sites[i]
		field := fmt.Sprintf("sites[%d]", i)
		if err := envelope.ValidSite(s.Name); err != nil {
			errs = append(errs, config.Errorf(field+".name", "%v", err))
		} else if names[s.Name] {
			errs = append(errs, config.Errorf(field+".name", "site %q is listed twice", s.Name))
		}
		names[s.Name] = true
		errs = append(errs, config.Nest(field+".kafka", s.Kafka.Validate()))
		errs = append(errs, config.Nest(field+".tls", s.TLS.Validate()))
		if s.Registry != "" {
			if err := checkURL(s.Registry); err != nil {
				errs = append(errs, config.Errorf(field+".registry", "%v", err))
			}
		}
		errs = append(errs, checkEndpoints(field+".adapters", s.Adapters))
		errs = append(errs, checkEndpoints(field+".replicators", s.Replicators))
		for j, in := range s.Interest {
			f := fmt.Sprintf("%s.interest[%d]", field, j)
			l := interest.Lease{Topic: in.Topic, Pattern: in.Pattern, Site: s.Name, Kind: interest.KindDeclared, SourceID: "mesh-file", Since: time.Now()}
			var err error
			if l.Resume, l.ResumeAt, err = interest.ParseResume(in.Resume); err != nil {
				errs = append(errs, config.Errorf(f+".resume", "%v", err))
			} else if err := l.Validate(); err != nil && envelope.ValidSite(s.Name) == nil {
				errs = append(errs, config.Errorf(f+".topic", "%v", err))
			}
		}
	}
	linksOK := true
	for i, l := range m.Links {
		if _, err := topology.ParseLink(l); err != nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("links[%d]", i), "%v", err))
			linksOK = false
		}
	}
	if errors.Join(errs...) == nil && linksOK {
		if _, err := m.Topology(); err != nil {
			errs = append(errs, config.Errorf("links", "%v", err))
		}
	}
	switch m.Policies.ReplicationMode {
	case "", ExactlyOnce, AtLeastOnce:
	default:
		errs = append(errs, config.Errorf("policies.replication_mode", "want %s or %s, got %q", ExactlyOnce, AtLeastOnce, m.Policies.ReplicationMode))
	}
	if p := m.Policies.SchemasPrimary; p != "" && !names[p] {
		errs = append(errs, config.Errorf("policies.schemas_primary", "no site %q in sites (the sites are %v)", p, m.SiteNames()))
	}
	return errors.Join(errs...)
}

func checkEndpoints(field string, eps []Endpoint) error {
	var errs []error
	seen := map[string]bool{}
	for i, e := range eps {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case e.Name == "":
			errs = append(errs, config.Errorf(f+".name", "required: a name that tells this service apart, e.g. mqtt"))
		case seen[e.Name]:
			errs = append(errs, config.Errorf(f+".name", "%q is listed twice", e.Name))
		}
		seen[e.Name] = true
		if err := checkURL(e.Admin); err != nil {
			errs = append(errs, config.Errorf(f+".admin", "%v", err))
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL with a host, got %q", s)
	}
	return nil
}

// SiteNames returns the names of the sites, in the file's order.
func (m *Mesh) SiteNames() []string {
	out := make([]string, len(m.Sites))
	for i, s := range m.Sites {
		out[i] = s.Name
	}
	return out
}

// Site returns the named site.
func (m *Mesh) Site(name string) (Site, bool) {
	i := slices.IndexFunc(m.Sites, func(s Site) bool { return s.Name == name })
	if i < 0 {
		return Site{}, false
	}
	return m.Sites[i], true
}

// Topology returns the mesh's sites and links as a topology: which site
// reads from which, and the next hop of each route.
func (m *Mesh) Topology() (*topology.Topology, error) {
	links := make([][2]string, 0, len(m.Links))
	for _, l := range m.Links {
		p, err := topology.ParseLink(l)
		if err != nil {
			return nil, err
		}
		links = append(links, p)
	}
	return topology.New(m.SiteNames(), links)
}
