package registry

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// Config configures one registry instance. Its YAML form:
//
//	site: east
//	listen: 127.0.0.1:18081
//	kafka:
//	  brokers: [127.0.0.1:19092]
//	# on every site but the primary:
//	primary:
//	  url: http://east-registry:8081      # writes are forwarded here
//	  kafka: {brokers: [east-kafka:9092]} # optional: tail the primary's _schemas directly
type Config struct {
	// Site is the site this instance serves.
	Site string `yaml:"site"`
	// Listen is the address of the HTTP API.
	Listen string `yaml:"listen"`
	// AdvertisedURL is how other instances reach this one; by default
	// http://<listen>.
	AdvertisedURL string `yaml:"advertised_url,omitempty"`
	// Kafka is the site's cluster, which holds the _schemas topic.
	Kafka kafkaclient.Config `yaml:"kafka"`
	// Topic is the schema log (default _schemas).
	Topic string `yaml:"topic,omitempty"`
	// ReplicationFactor of the schema log when the registry creates it;
	// -1 uses the broker's default.
	ReplicationFactor int16 `yaml:"replication_factor,omitempty"`
	// Group is the Kafka consumer group through which the primary site's
	// instances elect the one that writes.
	Group string `yaml:"group,omitempty"`
	// Primary is set on every site but the primary one.
	Primary *Primary `yaml:"primary,omitempty"`
	// WriteTimeout bounds a write, forwarded or local.
	WriteTimeout time.Duration `yaml:"write_timeout,omitempty"`
	// Log configures logging.
	Log telemetry.LogConfig `yaml:"log,omitempty"`
}

// Primary says where a non-primary site's registry sends writes and,
// optionally, where it reads the schema log from.
type Primary struct {
	// URL of the primary site's registry.
	URL string `yaml:"url"`
	// Kafka, when set, is the primary's cluster: the registry then tails
	// the primary's schema log directly instead of the local copy that the
	// replicator maintains.
	Kafka *kafkaclient.Config `yaml:"kafka,omitempty"`
}

// DefaultConfig returns the defaults a configuration file overrides.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8081",
		Kafka:             kafkaclient.Defaults(),
		Topic:             "_schemas",
		ReplicationFactor: -1,
		Group:             "meshwork-registry",
		WriteTimeout:      30 * time.Second,
		Log:               telemetry.DefaultLogConfig(),
	}
}

// Validate checks the configuration; errors name fields by YAML path.
func (c *Config) Validate() error {
	var errs []error
	if err := envelope.ValidSite(c.Site); err != nil {
		errs = append(errs, config.Errorf("site", "%v", err))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, config.Errorf("listen", "want host:port, got %q", c.Listen))
	}
	if c.AdvertisedURL != "" {
		if u, err := url.Parse(c.AdvertisedURL); err != nil || u.Host == "" {
			errs = append(errs, config.Errorf("advertised_url", "want an absolute URL such as http://host:8081, got %q", c.AdvertisedURL))
		}
	}
	errs = append(errs, config.Nest("kafka", c.Kafka.Validate()))
	if c.Topic == "" {
		errs = append(errs, config.Errorf("topic", "must not be empty"))
	}
	if c.Group == "" {
		errs = append(errs, config.Errorf("group", "must not be empty"))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, config.Errorf("write_timeout", "must be positive"))
	}
	if p := c.Primary; p != nil {
		if u, err := url.Parse(p.URL); err != nil || u.Host == "" {
			errs = append(errs, config.Errorf("primary.url", "want the primary registry's URL, such as http://east-registry:8081, got %q", p.URL))
		}
		if p.Kafka != nil {
			errs = append(errs, config.Nest("primary.kafka", p.Kafka.Validate()))
		}
	}
	errs = append(errs, config.Nest("log", c.Log.Validate()))
	return errors.Join(errs...)
}

func (c *Config) advertised() string {
	if c.AdvertisedURL != "" {
		return c.AdvertisedURL
	}
	return fmt.Sprintf("http://%s", c.Listen)
}
