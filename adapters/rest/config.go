package rest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// Config configures one REST adapter: the HTTP API that produces into the
// site's Kafka cluster (REST Proxy v2 and v3, CloudEvents), the webhooks it
// delivers Kafka records to, and the common block of every service (site,
// listen, log, kafka). The API is served on listen, beside /metrics,
// /healthz and /readyz. DefaultConfig holds every default; Validate checks
// it all and changes nothing.
type Config struct {
	service.Common `yaml:",inline"`
	// BaseURL is the URL clients reach this replica at, e.g.
	// http://rest-0.example:8082. Consumer instances live in the replica
	// that created them, and their base_uri starts with it;
	// http://<listen> when left out.
	BaseURL string `yaml:"base_url,omitempty"`
	// InstanceID names this replica among the site's REST adapters, stable
	// across restarts: the transactional ids of Idempotency-Key requests
	// carry it, so that a restarted replica aborts what it left open.
	// Each replica needs its own; the host name and listen address when
	// left out.
	InstanceID string `yaml:"instance_id,omitempty"`
	// Registry is the schema registry of Avro produce requests.
	Registry Registry `yaml:"registry,omitempty"`
	// MaxInFlight bounds the records handed to Kafka and not yet
	// acknowledged, across all requests. A request that does not fit in
	// what is left is answered 429 with Retry-After; a request with more
	// records than this is answered 413.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxBodyBytes bounds a request's body; beyond, 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadTimeout bounds reading a request's body: a client that sends it
	// slower is answered 408 and nothing of it is written.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// ProduceTimeout bounds the wait for Kafka's acknowledgement of a
	// request's records; records not acknowledged by then are reported
	// with error code 50003 (retriable).
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// RetryAfter is what a 429 answer tells the client to wait.
	RetryAfter time.Duration `yaml:"retry_after"`
	// Events maps CloudEvents types to Kafka topics for POST /events: the
	// first rule whose type pattern matches an event's type names its
	// topic. An event no rule matches is answered 422.
	Events []EventRule `yaml:"events,omitempty"`
	// Webhooks configures delivery of Kafka records to HTTP endpoints.
	Webhooks Webhooks `yaml:"webhooks,omitempty"`
	// Idempotency configures the Idempotency-Key header of produce
	// requests.
	Idempotency Idempotency `yaml:"idempotency,omitempty"`
	// Consumers configures REST Proxy v2 consumer instances.
	Consumers Consumers `yaml:"consumers,omitempty"`
	// Grants say what each principal (authenticated by the common auth
	// section) may do, when no mesh-wide policy decides: the topics it may
	// produce to and consume, and whether it may manage webhook
	// subscriptions. With no grants, every authenticated request is
	// allowed.
	Grants []Grant `yaml:"grants,omitempty"`
	// NotReadyAfter is how long Kafka may keep failing produces or a
	// webhook deliveries before /readyz says so.
	NotReadyAfter time.Duration `yaml:"not_ready_after"`
}

// Registry locates the schema registry (Confluent-compatible API).
type Registry struct {
	// URL is the registry's base URL, e.g. http://127.0.0.1:8081. Without
	// it, Avro produce requests are answered 415.
	URL string `yaml:"url"`
	// AutoRegister registers a value_schema or key_schema given inline
	// that the registry does not know yet, as REST Proxy does; off, such a
	// schema must have been registered first (42205 otherwise).
	AutoRegister bool `yaml:"auto_register"`
	// TLS applies to an https URL: the CA that verifies the registry and,
	// where it requires mutual TLS, the adapter's client certificate.
	TLS tlsconfig.Files `yaml:"tls,omitempty"`
	// Credentials are the adapter's, where the registry authenticates its
	// clients: username with a password, or a bearer token.
	authn.Credentials `yaml:",inline"`
}

// EventRule maps CloudEvents types to a Kafka topic.
type EventRule struct {
	// Type is the event type, exactly, or a pattern with * for any run of
	// characters, e.g. shop.order.*.
	Type string `yaml:"type"`
	// Topic is the Kafka topic; {type} stands for the event's type, e.g.
	// events.{type}. Characters a topic cannot hold become _.
	Topic string `yaml:"topic"`
}

// Webhooks configures delivery of Kafka records to HTTP endpoints.
type Webhooks struct {
	// SubscriptionsTopic keeps the subscriptions made through the API
	// (compacted); replicas of one site's adapter share it.
	SubscriptionsTopic string `yaml:"subscriptions_topic"`
	// Subscriptions are the subscriptions from the configuration file;
	// those made through the API (/v1/subscriptions) are kept in Kafka
	// beside them.
	Subscriptions []SubscriptionConfig `yaml:"subscriptions,omitempty"`
	// AllowTargets lists the networks (CIDR, e.g. 127.0.0.0/8) and host
	// names a webhook may target although they are loopback, link-local,
	// unspecified, multicast or cloud metadata addresses, which are
	// refused by default (against server-side request forgery).
	AllowTargets []string `yaml:"allow_targets,omitempty"`
	// Timeout bounds one delivery attempt, from connecting to the end of
	// the response.
	Timeout time.Duration `yaml:"timeout"`
	// MaxInFlight bounds the deliveries in progress per subscription and
	// partition; records of one key are delivered one at a time, in order.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxAttempts is a subscription's default number of attempts before a
	// record goes to the dead-letter topic.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the default wait after a first failed attempt, doubled
	// (with jitter) after each further one, up to MaxBackoff.
	Backoff time.Duration `yaml:"backoff"`
	// MaxBackoff caps the wait between attempts, Retry-After included.
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// SubscriptionConfig is one webhook subscription.
type SubscriptionConfig struct {
	// ID names the subscription; it is the webhook-id prefix and the
	// consumer group's suffix, so keep it stable.
	ID string `yaml:"id"`
	// Topic is the Kafka topic, or with pattern a regular expression
	// matched against whole topic names.
	Topic string `yaml:"topic"`
	// Pattern reads topic as a regular expression.
	Pattern bool `yaml:"pattern,omitempty"`
	// URL is the endpoint, http:// or https://.
	URL string `yaml:"url"`
	// Headers are added to every delivery.
	Headers map[string]string `yaml:"headers,omitempty"`
	// Secret signs deliveries (Standard Webhooks: whsec_ and base64, or
	// any text); prefer secret_file or secret_env (inline, it loads with a
	// warning at start).
	Secret string `yaml:"secret,omitempty" json:"-" secret:"true"`
	// SecretFile names a file holding the secret, read at start.
	SecretFile string `yaml:"secret_file,omitempty"`
	// SecretEnv names an environment variable holding the secret.
	SecretEnv string `yaml:"secret_env,omitempty"`
	// BearerToken, when set, is sent as Authorization: Bearer; prefer
	// bearer_token_file or bearer_token_env.
	BearerToken string `yaml:"bearer_token,omitempty" json:"-" secret:"true"`
	// BearerTokenFile names a file holding the bearer token, read at start.
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	// BearerTokenEnv names an environment variable holding the bearer
	// token.
	BearerTokenEnv string `yaml:"bearer_token_env,omitempty"`
	// Types, when set, delivers only events whose ce_type is one of them
	// (* patterns allowed); Keys likewise for record keys.
	Types []string `yaml:"types,omitempty"`
	Keys  []string `yaml:"keys,omitempty"`
	// MaxAttempts and Backoff override the webhooks' defaults.
	MaxAttempts int           `yaml:"max_attempts,omitempty"`
	Backoff     time.Duration `yaml:"backoff,omitempty"`
}

// Idempotency configures the Idempotency-Key header of produce requests.
type Idempotency struct {
	// Window is how long a key's response is kept: a request repeated with
	// the same key within it gets the same response and writes nothing.
	// 0 turns Idempotency-Key off (the header is then ignored).
	Window time.Duration `yaml:"window"`
	// Topic keeps the answers (compacted, deleted after twice the window);
	// replicas of one site's adapter share it.
	Topic string `yaml:"topic"`
}

// Consumers configures REST Proxy v2 consumer instances.
type Consumers struct {
	// IdleTimeout deletes a consumer instance that no request used for
	// that long, leaving its group.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxInstances bounds the consumer instances of this replica.
	MaxInstances int `yaml:"max_instances"`
}

// Grant is what one principal may do.
type Grant struct {
	// Principal is the name the common auth section proves: a user, a
	// token's name, a JWT's subject or a client certificate's identity.
	Principal string `yaml:"principal"`
	// Produce and Consume list the topics (* patterns allowed) the
	// principal may write and read.
	Produce []string `yaml:"produce,omitempty"`
	Consume []string `yaml:"consume,omitempty"`
	// Subscriptions lets the principal manage webhook subscriptions.
	Subscriptions bool `yaml:"subscriptions,omitempty"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	k := kafkaclient.Defaults()
	k.Producer.Linger = time.Millisecond
	return Config{
		Common:         service.DefaultCommon("127.0.0.1:8082", k),
		MaxInFlight:    10000,
		MaxBodyBytes:   8 << 20,
		ReadTimeout:    30 * time.Second,
		ProduceTimeout: 30 * time.Second,
		RetryAfter:     time.Second,
		Webhooks: Webhooks{
			SubscriptionsTopic: SubscriptionsTopic,
			Timeout:            10 * time.Second,
			MaxInFlight:        64,
			MaxAttempts:        8,
			Backoff:            500 * time.Millisecond,
			MaxBackoff:         5 * time.Minute,
		},
		Idempotency:   Idempotency{Window: 24 * time.Hour, Topic: IdempotencyTopic},
		Consumers:     Consumers{IdleTimeout: 5 * time.Minute, MaxInstances: 100},
		NotReadyAfter: adapters.DefaultNotReadyAfter,
	}
}

// Validate checks the configuration; errors name fields by YAML path.
func (c *Config) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, config.Errorf("base_url", "want http://host:port, got %q", c.BaseURL))
		}
	}
	if c.Registry.URL != "" {
		if u, err := url.Parse(c.Registry.URL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, config.Errorf("registry.url", "want http://host:port, got %q", c.Registry.URL))
		}
		errs = append(errs, config.Nest("registry.tls", c.Registry.TLS.Validate()), config.Nest("registry", c.Registry.Credentials.Validate()))
	}
	if a := c.Kafka.Producer.Acks; a != "" && a != kafkaclient.AcksAll {
		errs = append(errs, config.Errorf("kafka.producer.acks", "the REST adapter answers 2xx only once every in-sync replica has the records: it needs acks all, got %q", a))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, config.Errorf("max_in_flight", "must be at least 1, got %d", c.MaxInFlight))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, config.Errorf("max_body_bytes", "want at least 1024, got %d", c.MaxBodyBytes))
	}
	for field, d := range map[string]time.Duration{"read_timeout": c.ReadTimeout, "produce_timeout": c.ProduceTimeout, "retry_after": c.RetryAfter,
		"webhooks.timeout": c.Webhooks.Timeout, "webhooks.backoff": c.Webhooks.Backoff, "webhooks.max_backoff": c.Webhooks.MaxBackoff,
		"consumers.idle_timeout": c.Consumers.IdleTimeout} {
		if d <= 0 {
			errs = append(errs, config.Errorf(field, "must be positive, got %s", d))
		}
	}
	if c.Idempotency.Window < 0 {
		errs = append(errs, config.Errorf("idempotency.window", "must not be negative (0 turns it off), got %s", c.Idempotency.Window))
	}
	if c.NotReadyAfter < time.Second {
		errs = append(errs, config.Errorf("not_ready_after", "want at least 1s, got %s", c.NotReadyAfter))
	}
	for field, t := range map[string]string{"webhooks.subscriptions_topic": c.Webhooks.SubscriptionsTopic, "idempotency.topic": c.Idempotency.Topic} {
		if !adapters.LegalTopic(t) || len(t) > 249 {
			errs = append(errs, config.Errorf(field, "want a legal Kafka topic name, got %q", t))
		}
	}
	if c.Webhooks.MaxInFlight < 1 {
		errs = append(errs, config.Errorf("webhooks.max_in_flight", "must be at least 1, got %d", c.Webhooks.MaxInFlight))
	}
	if c.Webhooks.MaxAttempts < 1 {
		errs = append(errs, config.Errorf("webhooks.max_attempts", "must be at least 1, got %d", c.Webhooks.MaxAttempts))
	}
	if c.Consumers.MaxInstances < 0 {
		errs = append(errs, config.Errorf("consumers.max_instances", "must not be negative, got %d", c.Consumers.MaxInstances))
	}
	for i, r := range c.Events {
		errs = append(errs, config.Nest(fmt.Sprintf("events[%d]", i), r.validate()))
	}
	for i, a := range c.Webhooks.AllowTargets {
		if _, err := parseAllow(a); err != nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("webhooks.allow_targets[%d]", i), "%v", err))
		}
	}
	ids := map[string]int{}
	for i, s := range c.Webhooks.Subscriptions {
		field := fmt.Sprintf("webhooks.subscriptions[%d]", i)
		if prev, dup := ids[s.ID]; dup && s.ID != "" {
			errs = append(errs, config.Errorf(field+".id", "%q is also the id of webhooks.subscriptions[%d]", s.ID, prev))
		}
		ids[s.ID] = i
		errs = append(errs, config.Nest(field, s.validate()))
	}
	names := map[string]bool{}
	for i, g := range c.Grants {
		field := fmt.Sprintf("grants[%d].principal", i)
		switch {
		case g.Principal == "":
			errs = append(errs, config.Errorf(field, "required: the principal the grant is for"))
		case names[g.Principal]:
			errs = append(errs, config.Errorf(field, "%q appears twice", g.Principal))
		}
		names[g.Principal] = true
	}
	return errors.Join(errs...)
}

func (r EventRule) validate() error {
	var errs []error
	if r.Type == "" {
		errs = append(errs, config.Errorf("type", "required: an event type or a pattern such as shop.order.*"))
	} else if _, err := path.Match(r.Type, ""); err != nil {
		errs = append(errs, config.Errorf("type", "bad pattern %q: %v", r.Type, err))
	}
	if _, err := adapters.ParseTemplate(r.Topic, func(n string) bool { return n == "type" }); err != nil || r.Topic == "" {
		errs = append(errs, config.Errorf("topic", "want a topic such as shop.orders or events.{type}, got %q", r.Topic))
	} else if strings.HasPrefix(r.Topic, "_") {
		errs = append(errs, config.Errorf("topic", "%q: topics beginning with _ belong to the mesh, the registry and Kafka itself", r.Topic))
	}
	return errors.Join(errs...)
}

func (s SubscriptionConfig) validate() error {
	var errs []error
	if err := validSubscriptionID(s.ID); err != nil {
		errs = append(errs, config.Errorf("id", "%v", err))
	}
	if s.Topic == "" {
		errs = append(errs, config.Errorf("topic", "required"))
	}
	if u, err := url.Parse(s.URL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		errs = append(errs, config.Errorf("url", "want http:// or https:// with a host, got %q", s.URL))
	}
	errs = append(errs, s.secret().Check(false), s.bearerToken().Check(false))
	if s.MaxAttempts < 0 {
		errs = append(errs, config.Errorf("max_attempts", "must not be negative"))
	}
	if s.Backoff < 0 {
		errs = append(errs, config.Errorf("backoff", "must not be negative"))
	}
	return errors.Join(errs...)
}

// validSubscriptionID accepts ids that fit a consumer group name and a
// webhook-id: letters, digits, '.', '_' and '-'.
func validSubscriptionID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("want 1 to 128 letters, digits, '.', '_' or '-', got %q", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("want letters, digits, '.', '_' or '-', got %q", id)
		}
	}
	return nil
}

// parseAllow reads an allow_targets entry: a CIDR, an IP or a host name.
func parseAllow(s string) (allowEntry, error) {
	if _, n, err := net.ParseCIDR(s); err == nil {
		return allowEntry{net: n}, nil
	}
	if ip := net.ParseIP(s); ip != nil {
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		return allowEntry{net: &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}}, nil
	}
	if s == "" || strings.ContainsAny(s, "/: ") {
		return allowEntry{}, fmt.Errorf("want a CIDR (10.0.0.0/8), an IP or a host name, got %q", s)
	}
	return allowEntry{host: strings.ToLower(s)}, nil
}

// secret and bearerToken are where a subscription's secrets come from.
func (s SubscriptionConfig) secret() config.SecretRef {
	return config.SecretRef{Field: "secret", Value: s.Secret, File: s.SecretFile, Env: s.SecretEnv}
}

func (s SubscriptionConfig) bearerToken() config.SecretRef {
	return config.SecretRef{Field: "bearer_token", Value: s.BearerToken, File: s.BearerTokenFile, Env: s.BearerTokenEnv}
}
