package service

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/policy"
	"github.com/meshwork/meshwork/trace"
)

// Common is the block every service's configuration starts with. A
// service's config type embeds it inline, so its YAML file begins:
//
//	site: east
//	listen: 127.0.0.1:8083
//	log: {level: info, format: text}
//	kafka: {brokers: [127.0.0.1:9092]}
type Common struct {
	// Site names the site this service serves: lower-case letters,
	// digits and '-'. Events that enter the mesh here carry it as
	// mesh_origin.
	Site string `yaml:"site"`
	// Listen is the host:port of /metrics, /healthz and /readyz, and of
	// the service's API when it has one.
	Listen string `yaml:"listen"`
	// TLS serves the listen address over TLS (the service's API,
	// /metrics, /healthz and /readyz) when cert_file and key_file are
	// set, with mutual TLS when client_ca_file is set: with
	// auth.client_certificates, a verified client certificate's identity
	// (client_identity) is the request's principal. Certificates are read again when their files change, so
	// a renewed certificate is served without a restart. Plain HTTP when
	// left out.
	TLS tlsconfig.ServerFiles `yaml:"tls,omitempty"`
	// Auth authenticates every request to the listen address but /healthz
	// and /readyz (probes): HTTP basic users, static bearer tokens, JWTs
	// of an OIDC provider, verified client certificates. The proven
	// principal is what the policy's rules name. Secret files are read
	// again when they change. No authentication when left out.
	Auth authn.Config `yaml:"auth,omitempty"`
	// MetricsListen is the host:port of a plain HTTP listener serving
	// /metrics alone, for a scraper kept on a private network; /metrics
	// then leaves the listen address. When empty, /metrics is on the
	// listen address, authenticated like the API when auth is set.
	MetricsListen string `yaml:"metrics_listen,omitempty"`
	// Log configures the service's log on stderr.
	Log telemetry.LogConfig `yaml:"log"`
	// Kafka is the site's Kafka cluster.
	Kafka kafkaclient.Config `yaml:"kafka"`
	// Trace configures the hops this service records, for the events it
	// handles, in the site's _mesh.trace topic (a service that handles
	// no events, like the registry, records none).
	Trace trace.Config `yaml:"trace"`
	// Policy is the mesh's security policy: who may do what on which
	// topic, schema subject or operator verb (see policy/README.md). Every
	// service reads the same file at start and again when it changes;
	// without one, every request is allowed.
	Policy policy.Config `yaml:"policy,omitempty"`
	// Telemetry says where the service sends its OpenTelemetry spans
	// (none unless configured here or by the OTEL_EXPORTER_OTLP_*
	// variables); they are sampled at trace.sample_rate.
	Telemetry telemetry.TelemetryConfig `yaml:"telemetry"`
}

// DefaultCommon returns the common defaults with the service's own listen
// address and Kafka client defaults.
func DefaultCommon(listen string, kafka kafkaclient.Config) Common {
	return Common{Listen: listen, Log: telemetry.DefaultLogConfig(), Kafka: kafka, Trace: trace.DefaultConfig()}
}

// Validate checks the common block; field paths are those of the YAML file
// (the block is inlined at its top).
func (c *Common) Validate() error {
	var errs []error
	if err := envelope.ValidSite(c.Site); err != nil {
		errs = append(errs, config.Errorf("site", "%v", err))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, config.Errorf("listen", "want host:port, got %q", c.Listen))
	}
	errs = append(errs, config.Nest("tls", c.TLS.Validate()))
	errs = append(errs, config.Nest("auth", c.Auth.Validate()))
	if c.Auth.ClientCertificates && !c.TLS.Mutual() {
		errs = append(errs, config.Errorf("auth.client_certificates", "needs tls.client_ca_file: the CAs that verify client certificates"))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, config.Errorf("metrics_listen", "want host:port, got %q", c.MetricsListen))
		} else if c.MetricsListen == c.Listen {
			errs = append(errs, config.Errorf("metrics_listen", "is the listen address; leave it out to serve /metrics there"))
		}
	}
	errs = append(errs, config.Nest("log", c.Log.Validate()))
	errs = append(errs, config.Nest("kafka", c.Kafka.Validate()))
	errs = append(errs, config.Nest("trace", c.Trace.Validate()))
	errs = append(errs, config.Nest("telemetry", c.Telemetry.Validate()))
	errs = append(errs, config.Nest("policy", c.Policy.Validate()))
	return errors.Join(errs...)
}

// ListenerTLS returns the TLS configuration of the listen address, whose
// certificates are read again when their files change, or nil for plain
// HTTP (no tls.cert_file). It reads the files: a missing or unreadable
// one is an error naming its field.
func (c *Common) ListenerTLS(logger *slog.Logger, opts ...tlsconfig.ServerOption) (*tlsconfig.Server, error) {
	if !c.TLS.Enabled() {
		return nil, nil
	}
	return tlsconfig.NewServer(c.TLS, "tls", append([]tlsconfig.ServerOption{tlsconfig.WithLogger(logger)}, opts...)...)
}

// Protect returns h behind the auth section's authentication (h itself
// when auth is not set), with /healthz and /readyz left open, as Run
// serves every service; whoever serves a service otherwise (the dev mesh)
// does the same. close ends the authenticator's work (JWT key refresh).
func (c *Common) Protect(h http.Handler, logger *slog.Logger, reg prometheus.Registerer, opts ...authn.Option) (_ http.Handler, close func(), err error) {
	a, err := c.Authenticator(logger, reg, opts...)
	if err != nil || a == nil {
		return h, func() {}, err
	}
	return a.Middleware(h, "/healthz", "/readyz"), a.Close, nil
}

// Authenticator returns the authenticator of the auth section, or nil
// when it is not set; its metrics go to reg. The caller closes it.
func (c *Common) Authenticator(logger *slog.Logger, reg prometheus.Registerer, opts ...authn.Option) (*authn.Authenticator, error) {
	if !c.Auth.Enabled() {
		return nil, nil
	}
	return authn.New(c.Auth, append([]authn.Option{authn.WithLogger(logger), authn.WithMetrics(reg),
		authn.WithClientIdentity(c.TLS.ClientIdentityOf)}, opts...)...)
}

// PolicyWatcher reads the policy file (policy.file), or returns nil when
// none is set. A missing or invalid file is an error: a service must not
// start without the policy it was given. The watcher's Run follows the
// file.
func (c *Common) PolicyWatcher(logger *slog.Logger, reg prometheus.Registerer) (*policy.Watcher, error) {
	if !c.Policy.Enabled() {
		return nil, nil
	}
	w, err := policy.NewWatcher(c.Policy.File, policy.WithLogger(logger), policy.WithMetrics(reg))
	if err != nil {
		return nil, fmt.Errorf("policy.file: %w", err)
	}
	return w, nil
}
