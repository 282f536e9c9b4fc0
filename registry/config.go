package registry

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"time"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/tlsconfig"
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
//
// A follower site reads _schemas from its own cluster (kafka), where the
// replicator copies it from the primary site.
type Config struct {
	// The common block: site, listen (the API beside /metrics, /healthz
	// and /readyz), log, and kafka, the site's cluster, which holds the
	// _schemas topic.
	service.Common `yaml:",inline"`
	// AdvertisedURL is how other instances reach this one; by default
	// http://<listen>, or https://<listen> with a tls section.
	AdvertisedURL string `yaml:"advertised_url,omitempty"`
	// Topic is the schema log (default _schemas).
	Topic string `yaml:"topic,omitempty"`
	// ReplicationFactor of the schema log when the registry creates it;
	// -1 uses the broker's default.
	ReplicationFactor int16 `yaml:"replication_factor,omitempty"`
	// Group is the Kafka consumer group through which the primary site's
	// instances elect the one that writes.
	Group string `yaml:"group,omitempty"`
	// Primary is set on every site but the primary one. Such a follower
	// site reads the schema log from its own cluster (kafka), where its
	// replicator copies it from the primary site; it is not ready, and
	// its API answers 503, until that copy exists and has caught up with
	// the primary's.
	Primary *Primary `yaml:"primary,omitempty"`
	// PeerTLS is how this instance connects to the other registries it
	// forwards writes to and asks for their position (the site's leader
	// instance, the primary site's registry) when their URLs are https:
	// the CA that verifies them (the system's roots when left out) and,
	// where they require mutual TLS, this instance's client certificate.
	PeerTLS tlsconfig.Files `yaml:"peer_tls,omitempty"`
	// PeerAuth are the credentials this instance sends with its own
	// requests to the primary site's registry (asking how far its log is)
	// when that registry has auth set: username with password_file (or
	// password_env), or token_file (or token_env). Writes forwarded to the
	// leader carry their client's own Authorization header instead, so
	// that the leader authenticates (and authorizes) the client, not this
	// instance.
	PeerAuth authn.Credentials `yaml:"peer_auth,omitempty"`
	// WriteTimeout bounds a write at the leader. An instance that forwards
	// a write also waits up to this long, once the leader has answered,
	// for its own log to bring the write, and then answers error 50002
	// (the write is done at the leader, reads here do not show it yet).
	// On a follower site it also bounds, at start, asking the primary how
	// far its log is.
	WriteTimeout time.Duration `yaml:"write_timeout,omitempty"`
	// RequestTimeout bounds reading a request's body: a client that sends
	// it slower is answered 408 and loses its connection. Answers have
	// twice write_timeout plus this long to be written.
	RequestTimeout time.Duration `yaml:"request_timeout,omitempty"`
	// MaxRequests caps the API requests in flight; beyond it a request is
	// answered 429 with Retry-After at once.
	MaxRequests int `yaml:"max_requests,omitempty"`
	// MaxUploads caps the request bodies being read at once (within
	// max_requests), so that slow uploads cannot take every place: reads
	// go on meanwhile. A body may hold one schema of up to what a record
	// of the schema log holds (the topic's max.message.bytes).
	MaxUploads int `yaml:"max_uploads,omitempty"`
}

// Primary says where a follower site sends writes (see Config.Primary).
type Primary struct {
	// URL of the primary site's registry: writes are forwarded there, and
	// answered once this site's log has brought them.
	URL string `yaml:"url"`
	// Kafka is only for a mesh without a replicator: when set, it is the
	// primary's cluster, and the registry reads the primary's schema log
	// there, across the WAN, instead of the copy in its own cluster. With
	// the replicator, leave it out.
	Kafka *kafkaclient.Config `yaml:"kafka,omitempty"`
}

// UnmarshalYAML gives primary.kafka the same defaults as the site's kafka
// block; left out (or empty), it stays unset.
func (p *Primary) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Primary
	defaults := kafkaclient.Defaults()
	q := plain{Kafka: &defaults}
	if err := unmarshal(&q); err != nil {
		return err
	}
	if reflect.DeepEqual(*q.Kafka, kafkaclient.Defaults()) {
		q.Kafka = nil
	}
	*p = Primary(q)
	return nil
}

// DefaultConfig returns the defaults a configuration file overrides.
func DefaultConfig() Config {
	return Config{
		Common:            service.DefaultCommon("127.0.0.1:8081", kafkaclient.Defaults()),
		Topic:             "_schemas",
		ReplicationFactor: -1,
		Group:             "meshwork-registry",
		WriteTimeout:      30 * time.Second,
		RequestTimeout:    30 * time.Second,
		MaxRequests:       256,
		MaxUploads:        32,
	}
}

// Validate checks the configuration; errors name fields by YAML path.
func (c *Config) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.AdvertisedURL != "" {
		if u, err := url.Parse(c.AdvertisedURL); err != nil || u.Host == "" {
			errs = append(errs, config.Errorf("advertised_url", "want an absolute URL such as http://host:8081, got %q", c.AdvertisedURL))
		}
	}
	if c.Topic == "" {
		errs = append(errs, config.Errorf("topic", "must not be empty"))
	}
	if c.Group == "" {
		errs = append(errs, config.Errorf("group", "must not be empty"))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, config.Errorf("write_timeout", "must be positive"))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, config.Errorf("request_timeout", "must be positive"))
	}
	if c.MaxRequests <= 0 {
		errs = append(errs, config.Errorf("max_requests", "must be positive"))
	}
	if c.MaxUploads <= 0 || c.MaxUploads > c.MaxRequests {
		errs = append(errs, config.Errorf("max_uploads", "must be positive and at most max_requests (%d), got %d", c.MaxRequests, c.MaxUploads))
	}
	errs = append(errs, config.Nest("peer_tls", c.PeerTLS.Validate()))
	errs = append(errs, config.Nest("peer_auth", c.PeerAuth.Validate()))
	if p := c.Primary; p != nil {
		if u, err := url.Parse(p.URL); err != nil || u.Host == "" {
			errs = append(errs, config.Errorf("primary.url", "want the primary registry's URL, such as http://east-registry:8081, got %q", p.URL))
		}
		if p.Kafka != nil {
			errs = append(errs, config.Nest("primary.kafka", p.Kafka.Validate()))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) advertised() string {
	if c.AdvertisedURL != "" {
		return c.AdvertisedURL
	}
	if c.TLS.Enabled() {
		return fmt.Sprintf("https://%s", c.Listen)
	}
	return fmt.Sprintf("http://%s", c.Listen)
}
