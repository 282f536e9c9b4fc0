package devmesh

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/adapters/rest"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/registry"
	"github.com/meshwork/meshwork/replicator"
)

// The dev mesh's MQTT adapter rules: every MQTT topic (wildcards never
// match $SYS/...) goes into one Kafka topic keyed by the MQTT topic, and
// every record of another Kafka topic goes out to the MQTT topic its key
// names.
const (
	MQTTIngressTopic = "mqtt.ingress"
	MQTTEgressTopic  = "mqtt.egress"
)

// The dev mesh's AMQP adapter rules, for a site given a broker (-amqp):
// the queue mesh.ingress goes into one Kafka topic keyed by each message's
// subject (else its message-id), and every record of another Kafka topic
// goes out to the queue its key names.
const (
	AMQPIngressQueue = "mesh.ingress"
	AMQPIngressTopic = "amqp.ingress"
	AMQPEgressTopic  = "amqp.egress"
)

// The names of a site's services, in the order they start.
const (
	unitRegistry    = "registry"
	unitAdapter     = "mqtt-adapter"
	unitAMQPAdapter = "amqp-adapter"
	unitREST        = "rest-adapter"
	unitReplicator  = "replicator"
	// unitControlPlane is the mesh's control plane, at the first site.
	unitControlPlane = "controlplane"
)

// common is the common block of the site's service unit (secured as its
// principal in a secure dev mesh).
func (s *site) common(unit, listen string, kafka kafkaclient.Config) service.Common {
	c := service.DefaultCommon(listen, kafka)
	c.Site = s.name
	c.Kafka.Brokers = []string{s.endpoints.Kafka}
	c.Trace.SampleRate = 1 // every event: `meshctl trace` finds any of them
	secureServiceConfig(&c, s.sec, unitPrincipals[unit])
	return c
}

// scheme is the scheme of the mesh's URLs: https in a secure dev mesh.
func (s *site) scheme() string { return schemeOf(s.sec) }

func schemeOf(sec *security) string {
	if sec != nil {
		return "https://"
	}
	return "http://"
}

// clientTLS is how the site's services reach the mesh's https URLs.
func (s *site) clientTLS() tlsconfig.Files {
	if s.sec == nil {
		return tlsconfig.Files{}
	}
	return s.sec.clientTLS()
}

// registryConfig is the site's schema registry on listen. The primary
// site's instance writes the schema log; the others read the copy of it
// that their site's replicator keeps in their own Kafka, and forward
// writes to the primary, as a production mesh runs them.
func (s *site) registryConfig(listen string, primary *site) registry.Config {
	cfg := registry.DefaultConfig()
	cfg.Common = s.common(unitRegistry, listen, cfg.Kafka)
	cfg.AdvertisedURL = s.scheme() + listen
	cfg.PeerTLS = s.clientTLS()
	cfg.WriteTimeout = 10 * time.Second
	if primary != nil {
		cfg.Primary = &registry.Primary{URL: primary.endpoints.Registry}
	}
	if s.sec != nil { // a follower's own requests to the primary
		cfg.PeerAuth = s.sec.credentials(principalRegistry)
	}
	return cfg
}

// adapterConfig is the site's MQTT adapter on its embedded broker.
func (s *site) adapterConfig() mqtt.Config {
	cfg := mqtt.DefaultConfig()
	cfg.Common = s.common(unitAdapter, "127.0.0.1:0", cfg.Kafka) // served by the dev mesh's admin server
	cfg.Broker.URL = s.endpoints.MQTT
	if s.sec != nil {
		cfg.Broker.Username, cfg.Broker.PasswordFile = principalMQTT, s.sec.passwordFile(principalMQTT)
		cfg.Broker.TLS = s.sec.clientTLS()
	}
	cfg.Broker.ClientID = adapterClientID(s.name)
	cfg.Broker.ConnectTimeout = 5 * time.Second
	cfg.Ingress = []mqtt.IngressRule{{Name: "all", Filter: "#", QoS: 1, Topic: MQTTIngressTopic, Key: "{topic}"}}
	cfg.Egress = []mqtt.EgressRule{{Name: "by-key", Topics: []string{MQTTEgressTopic}, QoS: 1, MQTTTopic: "{key}"}}
	return cfg
}

// amqpAdapterConfig is the site's AMQP adapter on the broker at url.
func (s *site) amqpAdapterConfig(url string) amqp.Config {
	cfg := amqp.DefaultConfig()
	cfg.Common = s.common(unitAMQPAdapter, "127.0.0.1:0", cfg.Kafka) // served by the dev mesh's admin server
	cfg.Broker.URL = url
	cfg.Broker.ContainerID = "meshwork-amqp-adapter-" + s.name
	cfg.Broker.ConnectTimeout = 5 * time.Second
	cfg.Broker.MaxReconnectInterval = 5 * time.Second
	cfg.Ingress = []amqp.IngressRule{{Name: "ingress", Address: AMQPIngressQueue, Topic: AMQPIngressTopic}}
	// Any queue a key names: the dev mesh trusts its producers.
	cfg.Egress = []amqp.EgressRule{{Name: "by-key", Topics: []string{AMQPEgressTopic}, Address: "{key}", Allow: []string{"*"}, Durable: true}}
	return cfg
}

// restConfig is the site's REST adapter on listen. Webhooks may target
// loopback addresses: the dev mesh's receivers run on this machine.
func (s *site) restConfig(listen string) rest.Config {
	cfg := rest.DefaultConfig()
	cfg.Common = s.common(unitREST, listen, cfg.Kafka)
	cfg.InstanceID = "devmesh-" + s.name
	cfg.Registry = rest.Registry{URL: s.endpoints.Registry, AutoRegister: true, TLS: s.clientTLS()}
	if s.sec != nil {
		cfg.Registry.Credentials = s.sec.credentials(principalREST)
	}
	cfg.Webhooks.AllowTargets = []string{"127.0.0.0/8", "::1"}
	cfg.Webhooks.Backoff = 200 * time.Millisecond
	cfg.Webhooks.MaxBackoff = 10 * time.Second
	return cfg
}

// adapterClientID is the client id of site's MQTT adapter: the embedded
// broker knows its session as the bridge into Kafka (see flowHook).
func adapterClientID(site string) string { return "meshwork-mqtt-adapter-" + site }

// replicatorConfig is the site's replicator: it copies into the site the
// topics consumer groups there read (discovered every few seconds, with a
// short lease, so that a deleted group's flow stops soon), from every
// other site, and the primary's schema log.
func (s *site) replicatorConfig(meshFile, listen string, ttl time.Duration) replicator.Config {
	cfg := replicator.DefaultConfig()
	cfg.Common = s.common(unitReplicator, listen, cfg.Kafka)
	cfg.MeshFile = meshFile // the sites, links and schemas_primary
	cfg.Interest.DiscoveryInterval = min(2*time.Second, ttl/3)
	cfg.Interest.LeaseTTL = ttl
	cfg.Flow.PlanInterval = 2 * time.Second
	cfg.Flow.FetchMaxWait = 50 * time.Millisecond
	return cfg
}

// serveTLS wraps ln in TLS when the common block c has a tls section, as
// service.Run serves a service's listener; it closes ln on error.
func serveTLS(ln net.Listener, c service.Common, logger *slog.Logger) (net.Listener, error) {
	srv, err := c.ListenerTLS(logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if srv == nil {
		return ln, nil
	}
	return tls.NewListener(ln, srv.Config()), nil
}

// startAMQP runs the site's AMQP adapter on the broker at brokerURL, and
// names the broker (without credentials) in the site's endpoints.
func (s *site) startAMQP(ctx context.Context, brokerURL string, log *slog.Logger, reg prometheus.Registerer) error {
	if err := s.createTopics(ctx, AMQPIngressTopic, AMQPEgressTopic); err != nil {
		return err
	}
	a, err := amqp.New(s.amqpAdapterConfig(brokerURL), log.With("service", unitAMQPAdapter), reg)
	if err != nil {
		return fmt.Errorf("dev mesh: site %s amqp adapter: %w", s.name, err)
	}
	if err := s.start(ctx, unitAMQPAdapter, a, nil, log); err != nil {
		return err
	}
	u, err := url.Parse(brokerURL)
	if err != nil {
		return fmt.Errorf("dev mesh: site %s amqp: %w", s.name, err)
	}
	u.User = nil
	s.endpoints.AMQP = u.String()
	return nil
}

// startREST starts the site's REST adapter on port (0: a free one).
func (s *site) startREST(ctx context.Context, port int, reg prometheus.Registerer, log *slog.Logger) error {
	ln, err := telemetry.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("dev mesh: site %s rest adapter: %w", s.name, err)
	}
	s.endpoints.HTTP = s.scheme() + ln.Addr().String()
	cfg := s.restConfig(ln.Addr().String())
	if ln, err = serveTLS(ln, cfg.Common, log); err != nil {
		return fmt.Errorf("dev mesh: site %s rest adapter: %w", s.name, err)
	}
	a, err := rest.New(cfg, log.With("service", unitREST), reg, rest.WithPolicy(s.sec.authorizer()))
	if err != nil {
		ln.Close()
		return fmt.Errorf("dev mesh: site %s rest adapter: %w", s.name, err)
	}
	return s.start(ctx, unitREST, a, ln, log)
}
