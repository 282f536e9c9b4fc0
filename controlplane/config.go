package controlplane

import (
	"errors"
	"github.com/meshwork/meshwork/controlplane/traceindex"
	"strings"
	"time"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/meshfile"
)

// Config configures the control plane. Its YAML form:
//
//	site: east                      # the site it runs at (labels its metrics)
//	listen: 127.0.0.1:8090          # the API, /metrics, /healthz, /readyz
//	mesh_file: mesh.yaml            # the mesh's topology, followed on change
//	refresh_interval: 10s
type Config struct {
	service.Common `yaml:",inline"`
	// MeshFile names the mesh's mesh.yaml: its sites, links and policies
	// (see meshfile). It is read again whenever it changes; a new version
	// that is invalid is logged and the last valid one stays in force.
	MeshFile string `yaml:"mesh_file"`
	// RefreshInterval is how often the health of every site and service
	// and the catalog are gathered again. Requests read the last
	// gathering; they never wait on a cluster.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// Timeout bounds each look at one site or service (a health check, a
	// registry request, the Kafka requests of one site's catalog).
	Timeout time.Duration `yaml:"timeout"`
	// ProducerSample is how many of the latest records of each partition
	// are read to tell who produces a topic (their mesh_origin and
	// ce_source); 0 turns the sample off.
	ProducerSample int `yaml:"producer_sample"`
	// SampledTopics bounds the topics whose latest records are read per
	// site at each gathering: only topics written to since the last one
	// are read again (the others keep their sample), at most this many.
	SampledTopics int `yaml:"sampled_topics"`
	// MaxTopics bounds the topics catalogued per site (configs, offsets);
	// the rest are listed without details.
	MaxTopics int `yaml:"max_topics"`
	// SiteAuth are the credentials the control plane sends to the sites'
	// registries and replicators' admin endpoints when they have auth set
	// (it reads their subjects and status): username with password_file
	// (or password_env), or token_file (or token_env) for a bearer token.
	SiteAuth authn.Credentials `yaml:"site_auth,omitempty"`
	// TraceIndex is the index of the mesh's trace hops, kept in a
	// directory of its own and rebuilt from _mesh.trace when lost.
	TraceIndex traceindex.Config `yaml:"trace_index"`
}

// DefaultConfig returns the defaults a configuration file overrides.
func DefaultConfig() Config {
	return Config{
		Common:          service.DefaultCommon("127.0.0.1:8090", kafkaclient.Defaults()),
		RefreshInterval: 10 * time.Second,
		Timeout:         5 * time.Second,
		ProducerSample:  20,
		SampledTopics:   100,
		MaxTopics:       10000,
		TraceIndex:      traceindex.DefaultConfig(),
	}
}

// Validate checks the configuration and its mesh file. The kafka block
// may be left out: it is then the site's as the mesh file declares it (the
// control plane reaches every site's cluster as the mesh file declares
// it).
func (c *Config) Validate() error {
	var errs []error
	if c.MeshFile == "" {
		errs = append(errs, config.Errorf("mesh_file", "required: the mesh's mesh.yaml, which declares its sites and links"))
	} else if m, err := meshfile.Load(c.MeshFile); err != nil {
		errs = append(errs, config.Errorf("mesh_file", "%v", err))
	} else if s, ok := m.Site(c.Site); !ok {
		errs = append(errs, config.Errorf("site", "%s has no site %q; the control plane runs at one of its sites (%s)", c.MeshFile, c.Site, strings.Join(m.SiteNames(), ", ")))
	} else if len(c.Kafka.Brokers) == 0 {
		c.Kafka = s.Kafka
	}
	if len(c.Kafka.Brokers) > 0 || c.MeshFile == "" {
		errs = append(errs, c.Common.Validate())
	}
	errs = append(errs, config.Nest("trace_index", c.TraceIndex.Validate()))
	errs = append(errs, config.Nest("site_auth", c.SiteAuth.Validate()))
	if c.RefreshInterval < 100*time.Millisecond {
		errs = append(errs, config.Errorf("refresh_interval", "must be at least 100ms, got %s", c.RefreshInterval))
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Errorf("timeout", "must be positive"))
	}
	if c.ProducerSample < 0 || c.ProducerSample > 10000 {
		errs = append(errs, config.Errorf("producer_sample", "want 0 to 10000, got %d", c.ProducerSample))
	}
	if c.SampledTopics < 0 {
		errs = append(errs, config.Errorf("sampled_topics", "must not be negative"))
	}
	if c.MaxTopics < 1 {
		errs = append(errs, config.Errorf("max_topics", "must be at least 1"))
	}
	return errors.Join(errs...)
}
