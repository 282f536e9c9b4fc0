package mqtt

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// Config configures one MQTT adapter: the broker it connects to, the rules
// that carry messages into Kafka (ingress) and out of it (egress), and the
// common block of every service (site, listen, log, kafka). DefaultConfig
// holds every default; Validate checks it all and changes nothing.
type Config struct {
	service.Common `yaml:",inline"`
	// Broker is the MQTT broker to connect to.
	Broker Broker `yaml:"broker"`
	// Ingress lists the rules that carry MQTT messages into Kafka. A message
	// is taken by the first rule whose filter matches its topic.
	Ingress []IngressRule `yaml:"ingress"`
	// Egress lists the rules that carry Kafka records to MQTT.
	Egress []EgressRule `yaml:"egress"`
	// Registry is the schema registry that rules with a schema use.
	Registry Registry `yaml:"registry,omitempty"`
	// MaxInFlight bounds the messages handed to Kafka and not yet
	// acknowledged to the broker (ingress), and the MQTT publishes awaiting
	// their PUBACK per partition (egress).
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxQueued bounds the messages received from the broker and waiting
	// for a place in the in-flight window. Over MQTT 5 the adapter asks the
	// broker to send no more than max_in_flight + max_queued
	// unacknowledged messages (its Receive Maximum); beyond max_queued, QoS
	// 0 messages are dropped (and counted) and QoS 1 and 2 messages wait
	// in the broker.
	MaxQueued int `yaml:"max_queued"`
	// NotReadyAfter is how long a transient failure (Kafka or the broker
	// down, a publish unacknowledged) may last, its messages kept and
	// retried with backoff, before /readyz reports the adapter not ready
	// with the reason.
	NotReadyAfter time.Duration `yaml:"not_ready_after"`
}

// Broker configures the session with the MQTT broker.
type Broker struct {
	// URL is tcp://host:port (also mqtt://), or ssl://host:port (also
	// tls://, mqtts://) for TLS.
	URL string `yaml:"url"`
	// ClientID identifies the adapter's session at the broker. It must be
	// stable across restarts: the broker keeps the session (subscriptions
	// and unacknowledged messages) under it. Each replica of an adapter
	// needs its own: with client_id: mesh-mqtt-${POD_NAME}, one file serves
	// every replica (${NAME} is the environment variable NAME, in
	// Kubernetes set from the pod's name by the downward API).
	ClientID string `yaml:"client_id"`
	// Username authenticates the session, with password_file,
	// password_env or password.
	Username string `yaml:"username,omitempty"`
	// Password is the secret written inline, which loads with a warning at
	// start; prefer password_file or password_env.
	Password string `yaml:"password,omitempty" json:"-" secret:"true"`
	// PasswordFile names a file holding the password (its trailing newline
	// dropped), read at each connection to the broker.
	PasswordFile string `yaml:"password_file,omitempty"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env,omitempty"`
	// TLS applies to ssl://, tls:// and mqtts:// URLs: ca_file to trust
	// a private CA, cert_file and key_file to present a client
	// certificate (with or without a username and password). The files
	// are read again when their content changes, from the next connection.
	TLS tlsconfig.Files `yaml:"tls,omitempty"`
	// Protocol is the MQTT version of the session: "5" (the default)
	// subscribes with No Local, so that what egress publishes never comes
	// back through ingress, and carries each record's envelope as user
	// properties; "3.1.1" is for brokers that do not speak MQTT 5 (see the
	// README for what echoes then).
	Protocol string `yaml:"protocol"`
	// CleanSession discards the session at connect. Off by default: with a
	// clean session the broker forgets unacknowledged messages.
	CleanSession bool `yaml:"clean_session"`
	// SessionExpiry is how long an MQTT 5 broker keeps the session (its
	// subscriptions and unacknowledged messages) while the adapter is away;
	// 0 keeps it until the adapter returns, as an MQTT 3.1.1 session does.
	SessionExpiry time.Duration `yaml:"session_expiry"`
	// KeepAlive is the MQTT keep-alive interval.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxReconnectInterval caps the backoff between reconnection attempts.
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
	// PublishTimeout bounds the wait for one egress PUBACK before the
	// record is published again.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
}

// MQTT protocol versions for Broker.Protocol.
const (
	Protocol311 = "3.1.1"
	Protocol5   = "5"
)

// Registry locates the schema registry (Confluent-compatible API).
type Registry = adapters.Registry

// RuleSchema makes a rule enforce the Kafka topic's schema. A payload that
// does not fit goes to the topic's dead-letter topic with the reason, and
// the message is acknowledged once the dead letter is in Kafka.
type RuleSchema = adapters.RuleSchema

// IngressRule carries the messages of one topic filter into Kafka.
type IngressRule struct {
	// Name labels the rule in metrics and logs; ingress[i] when left out.
	Name string `yaml:"name,omitempty"`
	// Filter is the MQTT topic filter to subscribe to: + and # wildcards,
	// {name} for a single-level wildcard whose value the templates can use,
	// and an optional $share/<group>/ prefix so that several adapters split
	// the messages.
	Filter string `yaml:"filter"`
	// QoS is the maximum QoS of the subscription (0, 1 or 2).
	QoS byte `yaml:"qos"`
	// Topic is the Kafka topic template, e.g. plant.{site}.temperature.
	// Characters a Kafka topic cannot hold become _; a message whose topic
	// renders empty, with an empty placeholder, or to a name starting with
	// _ (the mesh's, the registry's and Kafka's own topics) goes to
	// _mesh.dlq.unroutable instead.
	Topic string `yaml:"topic"`
	// Key is the record key template; {topic}, the MQTT topic, when left
	// out.
	Key string `yaml:"key,omitempty"`
	// Type is the ce_type template; the Kafka topic when left out.
	Type string `yaml:"type,omitempty"`
	// ContentType, when set, becomes the events' content-type (rules with a
	// schema write application/vnd.apache.avro+binary; over MQTT 5 a
	// message's own Content Type wins).
	ContentType string `yaml:"content_type,omitempty"`
	// Schema, when set, enforces the Kafka topic's registered schema.
	Schema *RuleSchema `yaml:"schema,omitempty"`
}

// EgressRule carries the records of Kafka topics to MQTT.
type EgressRule struct {
	// Name labels the rule in metrics and logs; egress[i] when left out.
	Name string `yaml:"name,omitempty"`
	// Topics are the Kafka topics to consume.
	Topics []string `yaml:"topics"`
	// Group is the Kafka consumer group; meshwork-mqtt-<site>-<name> when
	// left out.
	Group string `yaml:"group,omitempty"`
	// MQTTTopic is the MQTT topic template: {key}, {topic} (the Kafka
	// topic) and {header.NAME}; {key} when left out. A record whose topic
	// renders to no valid MQTT topic goes to its dead-letter topic.
	MQTTTopic string `yaml:"mqtt_topic,omitempty"`
	// QoS is the QoS of the publishes (0, 1 or 2).
	QoS byte `yaml:"qos"`
	// Retain sets the retain flag of the publishes.
	Retain bool `yaml:"retain"`
}

// DefaultConfig returns the defaults: MQTT 5, QoS 1 everywhere, a
// persistent session, and a window of 1024 messages (let the broker allow
// the adapter's client as many in flight: the broker, not the adapter, then
// bounds throughput).
func DefaultConfig() Config {
	return Config{
		Common: service.DefaultCommon("127.0.0.1:8083", adapters.KafkaDefaults()),
		Broker: Broker{
			URL:                  "tcp://127.0.0.1:1883",
			Protocol:             Protocol5,
			KeepAlive:            30 * time.Second,
			ConnectTimeout:       10 * time.Second,
			MaxReconnectInterval: 30 * time.Second,
			PublishTimeout:       30 * time.Second,
		},
		MaxInFlight:   1024,
		MaxQueued:     4096,
		NotReadyAfter: adapters.DefaultNotReadyAfter,
	}
}

// DefaultIngressQoS and DefaultEgressQoS apply to rules read from YAML that
// leave qos out; see UnmarshalYAML.
const (
	DefaultIngressQoS = 1
	DefaultEgressQoS  = 1
)

// UnmarshalYAML gives an ingress rule its default QoS before decoding.
func (r *IngressRule) UnmarshalYAML(unmarshal func(any) error) error {
	type plain IngressRule
	p := plain{QoS: DefaultIngressQoS}
	if err := unmarshal(&p); err != nil {
		return err
	}
	*r = IngressRule(p)
	return nil
}

// UnmarshalYAML gives an egress rule its default QoS before decoding.
func (r *EgressRule) UnmarshalYAML(unmarshal func(any) error) error {
	type plain EgressRule
	p := plain{QoS: DefaultEgressQoS}
	if err := unmarshal(&p); err != nil {
		return err
	}
	*r = EgressRule(p)
	return nil
}

// Validate checks the configuration; errors name fields by YAML path.
func (c *Config) Validate() error {
	errs := []error{c.Common.Validate(), config.Nest("broker", c.Broker.validate())}
	if len(c.Ingress) == 0 && len(c.Egress) == 0 {
		errs = append(errs, config.Errorf("ingress", "no rules: add ingress or egress rules"))
	}
	_, _, err := c.rules()
	errs = append(errs, err, adapters.Settings{
		Adapter: "MQTT", Registry: c.Registry, Acks: c.Kafka.Producer.Acks, NotReadyAfter: c.NotReadyAfter,
		SchemaRule: slices.IndexFunc(c.Ingress, func(r IngressRule) bool { return r.Schema != nil }),
	}.Validate())
	if c.MaxInFlight < 1 || c.MaxInFlight > 65535 {
		errs = append(errs, config.Errorf("max_in_flight", "want 1 to 65535, got %d", c.MaxInFlight))
	}
	if c.MaxQueued < 1 {
		errs = append(errs, config.Errorf("max_queued", "must be at least 1, got %d", c.MaxQueued))
	}
	return errors.Join(errs...)
}

// password is where the password comes from.
func (b *Broker) password() config.SecretRef {
	return config.SecretRef{Field: "password", Value: b.Password, File: b.PasswordFile, Env: b.PasswordEnv}
}

// brokerPassword is the password with its field path for errors at start.
func (b *Broker) brokerPassword() config.SecretRef {
	r := b.password()
	r.Field = "mqtt broker.password"
	return r
}

// String shows the broker section with its secrets redacted: it is what
// fmt and log/slog print.
func (b Broker) String() string {
	type plain Broker // without this method
	r := plain(b)
	r.URL = config.RedactURL(r.URL)
	r.Password = config.Redact(r.Password)
	return fmt.Sprintf("%+v", r)
}

// LogValue is String for log/slog.
func (b Broker) LogValue() slog.Value { return slog.StringValue(b.String()) }

func (b *Broker) validate() error {
	var errs []error
	u, err := url.Parse(b.URL)
	switch {
	case err != nil || u.Host == "":
		errs = append(errs, config.Errorf("url", "want tcp://host:port or ssl://host:port, got %q", config.RedactURL(b.URL)))
	case !b.tlsScheme() && u.Scheme != "tcp" && u.Scheme != "mqtt":
		errs = append(errs, config.Errorf("url", "unsupported scheme %q; want tcp, mqtt, ssl, tls or mqtts", u.Scheme))
	case u.Port() == "":
		errs = append(errs, config.Errorf("url", "want a port, as in tcp://host:1883, got %q", config.RedactURL(b.URL)))
	case u.User != nil:
		errs = append(errs, config.Errorf("url", "must not hold credentials (%s): set username and password_file", config.RedactURL(b.URL)))
	}
	switch {
	case b.ClientID == "":
		errs = append(errs, config.Errorf("client_id", "required: a stable id under which the broker keeps the adapter's session"))
	case len(b.ClientID) > 65535 || strings.ContainsAny(b.ClientID, "+#/"):
		errs = append(errs, config.Errorf("client_id", "must not contain +, # or /, got %q", b.ClientID))
	}
	errs = append(errs, adapters.CheckCredentials(b.Username, b.password()))
	errs = append(errs, config.Nest("tls", b.TLS.Validate()))
	if !b.tlsScheme() && (b.TLS.CAFile != "" || b.TLS.CertFile != "") {
		errs = append(errs, config.Errorf("tls", "TLS files are set but the url %q is not ssl://, tls:// or mqtts://", config.RedactURL(b.URL)))
	}
	if b.Protocol != Protocol5 && b.Protocol != Protocol311 {
		errs = append(errs, config.Errorf("protocol", "want %q or %q, got %q", Protocol5, Protocol311, b.Protocol))
	}
	if b.SessionExpiry < 0 || b.SessionExpiry > 0xFFFFFFFE*time.Second {
		errs = append(errs, config.Errorf("session_expiry", "want 0 (until the adapter returns) up to %s, got %s", 0xFFFFFFFE*time.Second, b.SessionExpiry))
	}
	if b.KeepAlive < time.Second || b.KeepAlive > 65535*time.Second {
		errs = append(errs, config.Errorf("keep_alive", "want 1s to 18h12m15s, got %s", b.KeepAlive))
	}
	if b.ConnectTimeout <= 0 {
		errs = append(errs, config.Errorf("connect_timeout", "must be positive"))
	}
	if b.MaxReconnectInterval <= 0 {
		errs = append(errs, config.Errorf("max_reconnect_interval", "must be positive"))
	}
	if b.PublishTimeout <= 0 {
		errs = append(errs, config.Errorf("publish_timeout", "must be positive"))
	}
	return errors.Join(errs...)
}

func (b *Broker) tlsScheme() bool {
	u, err := url.Parse(b.URL)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts":
		return true
	}
	return false
}

// ingressRule is an IngressRule ready to match and render.
type ingressRule struct {
	adapters.IngressTarget
	qos    byte
	filter *filter
	key    *adapters.Template
}

// egressRule is an EgressRule ready to render.
type egressRule struct {
	adapters.EgressSource // To: the MQTT topic
	name, group           string
	qos                   byte
	retain                bool
}

// rules compiles the rules, with their defaults applied, and reports every
// problem by the field it concerns.
func (c *Config) rules() ([]ingressRule, []egressRule, error) {
	return adapters.CompileRules("mqtt", c.Site, c.Ingress, c.Egress, IngressRule.compile, EgressRule.compile)
}

// RuleName is the name the rule was given.
func (r IngressRule) RuleName() string { return r.Name }

// RuleName is the name the rule was given.
func (r EgressRule) RuleName() string { return r.Name }

// RuleGroup is the consumer group the rule was given.
func (r EgressRule) RuleGroup() string { return r.Group }

func (r IngressRule) compile(name string) (ingressRule, error) {
	out := ingressRule{qos: r.QoS}
	var errs []error
	f, err := compileFilter(r.Filter)
	if err != nil {
		errs = append(errs, config.Errorf("filter", "%v", err))
	}
	out.filter = f
	known := func(name string) bool { return name == varTopic || f != nil && f.has(name) }
	out.IngressTarget, err = adapters.CompileIngressTarget(name, r.Topic, r.Type, r.ContentType, r.Schema, known)
	errs = append(errs, err)
	key := r.Key
	if key == "" {
		key = "{" + varTopic + "}"
	}
	if out.key, err = adapters.ParseTemplate(key, known); err != nil {
		errs = append(errs, config.Errorf("key", "%v", err))
	}
	if r.QoS > 2 {
		errs = append(errs, config.Errorf("qos", "want 0, 1 or 2, got %d", r.QoS))
	}
	return out, errors.Join(errs...)
}

func (r EgressRule) compile(name, group string) (egressRule, error) {
	out := egressRule{name: name, group: group, qos: r.QoS, retain: r.Retain}
	var err error
	out.EgressSource, err = adapters.CompileEgressSource(r.Topics, "mqtt_topic", r.MQTTTopic)
	errs := []error{err}
	if out.To != nil && strings.ContainsAny(out.To.String(), "+#") {
		errs = append(errs, config.Errorf("mqtt_topic", "%q: a topic to publish to cannot hold the wildcards + or #", out.To))
	}
	if r.QoS > 2 {
		errs = append(errs, config.Errorf("qos", "want 0, 1 or 2, got %d", r.QoS))
	}
	return out, errors.Join(errs...)
}
