package devmesh

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/meshwork/meshwork/internal/envelope"
)

// Service names, as used in endpoints.json and in -port overrides.
const (
	ServiceKafka = "kafka"
	ServiceMQTT  = "mqtt"
)

// SiteConfig is one site of the dev mesh.
type SiteConfig struct {
	Name string
	// Ports by service (kafka, mqtt); 0 picks a free port.
	Ports map[string]int
}

// Config configures the dev mesh.
type Config struct {
	// Dir holds the mesh's state: one directory per site, endpoints.json
	// and a lock file.
	Dir string
	// Sites to run; the first is the primary site.
	Sites []SiteConfig
	// AdminPort serves /metrics, /healthz and /readyz for the whole mesh;
	// 0 picks a free port, -1 disables it.
	AdminPort int
	// Logger receives the mesh's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig is the two-site mesh of the quickstart: east (primary) and
// west, on ports that do not collide with a Kafka or MQTT broker already
// running on their standard ports.
func DefaultConfig() Config {
	return Config{
		Dir: ".mesh",
		Sites: []SiteConfig{
			{Name: "east", Ports: map[string]int{ServiceKafka: 19092, ServiceMQTT: 11883}},
			{Name: "west", Ports: map[string]int{ServiceKafka: 29092, ServiceMQTT: 21883}},
		},
		AdminPort: 18000,
	}
}

// SetPort applies an override written site.service=port, as given to
// meshd dev -port.
func (c *Config) SetPort(spec string) error {
	key, val, ok := strings.Cut(spec, "=")
	site, svc, ok2 := strings.Cut(key, ".")
	if !ok || !ok2 {
		return fmt.Errorf("port override %q: want site.service=port, e.g. east.kafka=9092", spec)
	}
	port, err := strconv.Atoi(val)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("port override %q: %q is not a port number", spec, val)
	}
	if svc != ServiceKafka && svc != ServiceMQTT {
		return fmt.Errorf("port override %q: unknown service %q; want kafka or mqtt", spec, svc)
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

// Validate checks site names and that no two services share a port.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dev mesh: a state directory is required"))
	}
	if len(c.Sites) == 0 {
		errs = append(errs, errors.New("dev mesh: at least one site is required"))
	}
	used := map[int]string{}
	if c.AdminPort > 0 {
		used[c.AdminPort] = "admin"
	}
	names := map[string]bool{}
	for _, s := range c.Sites {
		if err := envelope.ValidSite(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("dev mesh: site %q: %w", s.Name, err))
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("dev mesh: site %q appears twice", s.Name))
		}
		names[s.Name] = true
		for svc, p := range s.Ports {
			if p == 0 {
				continue
			}
			who := s.Name + "." + svc
			if other, ok := used[p]; ok {
				errs = append(errs, fmt.Errorf("dev mesh: %s and %s both want port %d", other, who, p))
			}
			used[p] = who
		}
	}
	return errors.Join(errs...)
}
