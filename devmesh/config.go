package devmesh

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// Service names, as used in endpoints.json and in -port overrides.
const (
	ServiceKafka    = "kafka"
	ServiceMQTT     = "mqtt"
	ServiceRegistry = "registry"
	ServiceHTTP     = "http"
	// ServiceControlPlane is the mesh's control plane, one for the mesh
	// (-port controlplane=N).
	ServiceControlPlane = "controlplane"
)

// services lists the services whose ports a site configures.
var services = []string{ServiceKafka, ServiceMQTT, ServiceRegistry, ServiceHTTP}

// Services lists the services whose ports a site configures (-port
// site.service=port).
func Services() []string { return slices.Clone(services) }

// SiteConfig is one site of the dev mesh.
type SiteConfig struct {
	// Name is the site's name: lower-case letters, digits and '-'. The
	// first site is the primary one, whose registry writes the schemas.
	Name string `yaml:"name"`
	// Ports by service (kafka, mqtt, registry, http); 0 picks a free port.
	Ports map[string]int `yaml:"ports"`
	// AMQP, when set, is the URL of an AMQP 1.0 broker (RabbitMQ with its
	// AMQP 1.0 plugin, ActiveMQ) that the site's AMQP adapter bridges:
	// amqp://user:password@host:port. A broker belongs to one site.
	AMQP string `yaml:"amqp,omitempty"`
}

// Config configures the dev mesh. It can be read from a YAML file with
// config.Load (meshd dev -config FILE):
//
//	dir: .mesh
//	admin_port: 18000
//	sites:
//	  - name: east
//	    ports: {kafka: 19092, mqtt: 11883, registry: 18081}
//	  - name: west
//	    ports: {kafka: 29092, mqtt: 21883, registry: 28081}
type Config struct {
	// Dir holds the mesh's state: one directory per site, endpoints.json,
	// meshd.log and a lock file.
	Dir string `yaml:"dir"`
	// Sites to run; the first is the primary site.
	Sites []SiteConfig `yaml:"sites"`
	// AdminPort serves /metrics, /healthz and /readyz for the whole mesh;
	// 0 picks a free port, -1 disables it.
	AdminPort int `yaml:"admin_port"`
	// ControlPlanePort is the port of the control plane's API (meshctl's
	// server, named controlplane in endpoints.json); 0 picks a free port,
	// -1 runs none.
	ControlPlanePort int `yaml:"controlplane_port"`
	// InterestTTL is how long a site's interest outlives its holder (a
	// deleted consumer group, a stopped adapter) before the replicators
	// stop copying for it.
	InterestTTL time.Duration `yaml:"interest_ttl"`
	// Secure runs the mesh as production should be (meshd dev -secure):
	// TLS on every listener with a CA made in dir/tls, SASL/SCRAM-SHA-512
	// and ACLs on the embedded Kafka, MQTT over TLS with passwords, a principal per
	// service, the users admin and viewer in dir/credentials.json and the
	// policy in dir/policy.yaml (see secure.go). Off: open, on loopback.
	Secure bool `yaml:"secure"`
	// MQTT bounds the sessions of every site's embedded MQTT broker.
	MQTT BrokerConfig `yaml:"mqtt"`
	// Log configures the log meshd dev writes to meshd.log in dir
	// (warnings and errors also to stderr).
	Log telemetry.LogConfig `yaml:"log"`
	// Logger receives the mesh's logs; nil discards them.
	Logger *slog.Logger `yaml:"-"`
}

// DefaultConfig is the two-site mesh of the quickstart: east (primary) and
// west, on ports that do not collide with a Kafka or MQTT broker already
// running on their standard ports.
func DefaultConfig() Config {
	return Config{
		Dir: ".mesh",
		Sites: []SiteConfig{
			{Name: "east", Ports: map[string]int{ServiceKafka: 19092, ServiceMQTT: 11883, ServiceRegistry: 18081, ServiceHTTP: 18082}},
			{Name: "west", Ports: map[string]int{ServiceKafka: 29092, ServiceMQTT: 21883, ServiceRegistry: 28081, ServiceHTTP: 28082}},
		},
		AdminPort: 18000,
		// The control plane's port.
		ControlPlanePort: 18090,
		InterestTTL:      10 * time.Second,
		MQTT:             DefaultBrokerConfig(),
		Log:              telemetry.DefaultLogConfig(),
	}
}

// BrokerConfig bounds what the embedded MQTT broker holds for a session,
// and so what it may acknowledge: it never acknowledges a message it could
// then drop for the site's MQTT adapter (the bridge into Kafka).
type BrokerConfig struct {
	// SessionQueue is how many QoS 1 and 2 messages one session may hold
	// unacknowledged (sent, or waiting to be sent). At the bound, a
	// publisher whose message would go to the adapter's session is held
	// (its PUBACK withheld, its connection not read) until the adapter
	// acknowledges; any other subscriber is disconnected as too slow, and
	// while it is away its session keeps what it holds and misses what
	// comes beyond the bound, as Mosquitto and EMQX do. At most 32768,
	// below the 65535 packet ids of a session.
	SessionQueue int `yaml:"session_queue"`
	// WriteTimeout disconnects a client that reads nothing of what the
	// broker sends it for this long (its socket buffers are full). The
	// messages it holds stay in its session.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// DefaultBrokerConfig holds 4096 messages per session: below the MQTT
// adapter's Receive Maximum (its max_in_flight + max_queued, 5120 by
// default), so that all a session holds can be sent at once when the
// adapter reconnects.
func DefaultBrokerConfig() BrokerConfig {
	return BrokerConfig{SessionQueue: 4096, WriteTimeout: 10 * time.Second}
}

// Validate checks the bounds.
func (c *BrokerConfig) Validate() error {
	var errs []error
	if c.SessionQueue < 1 || c.SessionQueue > 32768 {
		errs = append(errs, config.Errorf("session_queue", "want 1 to 32768, got %d", c.SessionQueue))
	}
	if c.WriteTimeout < 100*time.Millisecond {
		errs = append(errs, config.Errorf("write_timeout", "must be at least 100ms, got %s", c.WriteTimeout))
	}
	return errors.Join(errs...)
}

// SiteNames returns the names of the sites, in order.
func (c *Config) SiteNames() []string {
	out := make([]string, len(c.Sites))
	for i, s := range c.Sites {
		out[i] = s.Name
	}
	return out
}

// SetAMQP gives a site an AMQP adapter, from a spec written site=url, as
// given to meshd dev -amqp.
func (c *Config) SetAMQP(spec string) error {
	site, u, ok := strings.Cut(spec, "=")
	if !ok || u == "" {
		return fmt.Errorf("amqp %q: want site=amqp://user:password@host:port, e.g. east=amqp://guest:guest@127.0.0.1:5672", redactURL(spec))
	}
	for i := range c.Sites {
		if c.Sites[i].Name == site {
			c.Sites[i].AMQP = u
			return nil
		}
	}
	return fmt.Errorf("amqp %q: unknown site %q", redactURL(spec), site)
}

// redactURL hides the password of a URL (or of site=URL), for messages.
func redactURL(s string) string {
	prefix, raw := "", s
	if site, rest, ok := strings.Cut(s, "="); ok && !strings.Contains(site, "://") {
		prefix, raw = site+"=", rest
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if err != nil {
			return prefix + "(unparsable URL)"
		}
		return s
	}
	return prefix + u.Redacted()
}

// SetPort applies an override written site.service=port, or
// controlplane=port, as given to meshd dev -port.
func (c *Config) SetPort(spec string) error {
	key, val, ok := strings.Cut(spec, "=")
	if key == ServiceControlPlane {
		port, err := strconv.Atoi(val)
		if err != nil || port < -1 || port > 65535 {
			return fmt.Errorf("port override %q: %q is not a port number (0 picks a free port, -1 runs no control plane)", spec, val)
		}
		c.ControlPlanePort = port
		return nil
	}
	site, svc, ok2 := strings.Cut(key, ".")
	if !ok || !ok2 {
		return fmt.Errorf("port override %q: want site.service=port, e.g. east.kafka=9092, or controlplane=port", spec)
	}
	port, err := strconv.Atoi(val)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("port override %q: %q is not a port number", spec, val)
	}
	if !slices.Contains(services, svc) {
		return fmt.Errorf("port override %q: unknown service %q; want one of %s", spec, svc, strings.Join(services, ", "))
	}
	for i := range c.Sites {
		if c.Sites[i].Name == site {
			if c.Sites[i].Ports == nil {
				c.Sites[i].Ports = map[string]int{}
			}
			c.Sites[i].Ports[svc] = port
			return nil
		}
	}
	return fmt.Errorf("port override %q: unknown site %q", spec, site)
}

// Validate checks site names, services and ports, and that no two services
// share a port. Errors name fields by their YAML path.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, config.Errorf("dir", "a state directory is required"))
	}
	if len(c.Sites) == 0 {
		errs = append(errs, config.Errorf("sites", "at least one site is required"))
	}
	if c.AdminPort < -1 || c.AdminPort > 65535 {
		errs = append(errs, config.Errorf("admin_port", "%d is not a port number (0 picks a free port, -1 disables)", c.AdminPort))
	}
	if c.InterestTTL < time.Second {
		errs = append(errs, config.Errorf("interest_ttl", "must be at least 1s, got %s", c.InterestTTL))
	}
	errs = append(errs, config.Nest("mqtt", c.MQTT.Validate()))
	errs = append(errs, config.Nest("log", c.Log.Validate()))
	if c.ControlPlanePort < -1 || c.ControlPlanePort > 65535 {
		errs = append(errs, config.Errorf("controlplane_port", "%d is not a port number (0 picks a free port, -1 runs none)", c.ControlPlanePort))
	}
	used := map[int]string{}
	if c.AdminPort > 0 {
		used[c.AdminPort] = "admin_port"
	}
	if c.ControlPlanePort > 0 {
		if other, ok := used[c.ControlPlanePort]; ok {
			errs = append(errs, config.Errorf("controlplane_port", "port %d is already used by %s", c.ControlPlanePort, other))
		}
		used[c.ControlPlanePort] = "controlplane_port"
	}
	names := map[string]bool{}
	brokers := map[string]string{}
	for i, s := range c.Sites {
		field := fmt.Sprintf("sites[%d]", i)
		if s.AMQP != "" {
			u, err := url.Parse(s.AMQP)
			switch {
			case err != nil || u.Host == "" || u.Port() == "" || u.Scheme != "amqp" && u.Scheme != "amqps":
				errs = append(errs, config.Errorf(field+".amqp", "want amqp://user:password@host:port, got %q", redactURL(s.AMQP)))
			case brokers[u.Host] != "":
				errs = append(errs, config.Errorf(field+".amqp", "the broker at %s is also site %s's: a broker belongs to one site (its queues are that site's)", u.Host, brokers[u.Host]))
			default:
				brokers[u.Host] = s.Name
			}
		}
		if err := envelope.ValidSite(s.Name); err != nil {
			errs = append(errs, config.Errorf(field+".name", "%q: %v", s.Name, err))
		}
		if names[s.Name] {
			errs = append(errs, config.Errorf(field+".name", "site %q appears twice", s.Name))
		}
		names[s.Name] = true
		for _, svc := range slices.Sorted(maps.Keys(s.Ports)) {
			p := s.Ports[svc]
			pf := field + ".ports." + svc
			if !slices.Contains(services, svc) {
				errs = append(errs, config.Errorf(pf, "unknown service %q; want one of %s", svc, strings.Join(services, ", ")))
				continue
			}
			if p < 0 || p > 65535 {
				errs = append(errs, config.Errorf(pf, "%d is not a port number (0 picks a free port)", p))
				continue
			}
			if p == 0 {
				continue
			}
			if other, ok := used[p]; ok {
				errs = append(errs, config.Errorf(pf, "port %d is already used by %s", p, other))
			}
			used[p] = pf
		}
	}
	return errors.Join(errs...)
}
