package amqp

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

// Config configures one AMQP adapter: the broker it connects to, the rules
// that carry messages into Kafka (ingress) and out of it (egress), and the
// common block of every service (site, listen, log, kafka). DefaultConfig
// holds every default; Validate checks it all and changes nothing.
type Config struct {
	service.Common `yaml:",inline"`
	// Broker is the AMQP 1.0 broker to connect to.
	Broker Broker `yaml:"broker"`
	// Ingress lists the rules that carry AMQP messages into Kafka, one
	// receiver each.
	Ingress []IngressRule `yaml:"ingress"`
	// Egress lists the rules that carry Kafka records to AMQP addresses.
	Egress []EgressRule `yaml:"egress"`
	// Registry is the schema registry that rules with a schema use.
	Registry Registry `yaml:"registry,omitempty"`
	// MaxInFlight is the link credit of each ingress receiver: the broker
	// sends no more unsettled messages than this per rule, and a message is
	// settled only once Kafka has it, so a slow Kafka withholds credit
	// instead of filling memory. Egress hands at most this many records of
	// a partition to the broker before their outcomes arrive.
	MaxInFlight int `yaml:"max_in_flight"`
	// NotReadyAfter is how long a transient failure (Kafka or the broker
	// down, a send released) may last, its messages kept and retried with
	// backoff, before /readyz reports the adapter not ready with the reason.
	NotReadyAfter time.Duration `yaml:"not_ready_after"`
}

// Broker configures the connection to the AMQP 1.0 broker.
type Broker struct {
	// URL is amqp://host:port, or amqps://host:port for TLS. User and
	// password in the URL are taken as username and password.
	URL string `yaml:"url"`
	// Kind is the broker's address syntax: auto (the default) tells the
	// brokers apart by the product property of their Open frame; rabbitmq
	// writes queue q as /queue/q (/queues/q from RabbitMQ 4), activemq as
	// queue://q, plain leaves names as they are (Artemis, Qpid, Azure
	// Service Bus).
	Kind string `yaml:"kind"`
	// SASL is the authentication mechanism: plain (the default with a
	// username), external (the TLS client certificate of tls.cert_file is
	// the identity: needs an amqps:// URL), anonymous (the default without
	// a username), or none for brokers that accept connections without a
	// SASL layer.
	SASL string `yaml:"sasl"`
	// Username authenticates with SASL PLAIN, with password_file,
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
	// TLS applies to amqps:// URLs; its files are read again when their
	// content changes, from the next connection.
	TLS tlsconfig.Files `yaml:"tls,omitempty"`
	// ContainerID names the adapter's connection at the broker, and marks
	// the messages egress sends so that ingress never takes them back;
	// meshwork-amqp-<site> when left out. Each replica needs its own.
	ContainerID string `yaml:"container_id,omitempty"`
	// IdleTimeout is the idle time-out the adapter announces: the broker
	// sends a frame at least this often, or the connection is renewed.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ConnectTimeout bounds one connection attempt, and the attaching of
	// one link.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxReconnectInterval caps the backoff between reconnection attempts.
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
	// SendTimeout bounds the wait for the broker's outcome of one egress
	// send before the record is sent again.
	SendTimeout time.Duration `yaml:"send_timeout"`
	// StallTimeout is how long an ingress receiver may get no message while
	// it has link credit out before it is detached and attached anew under
	// a new link name (RabbitMQ 3.x was seen to stop sending to a link
	// that still had credit, with messages in its queue). Messages the old
	// link delivered are settled first; any still unsettled the broker
	// delivers again. While a queue stays empty the period doubles with
	// each new link, up to 8 times. 0 turns the watchdog off.
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// Broker kinds for Broker.Kind.
const (
	KindAuto     = "auto"
	KindRabbitMQ = "rabbitmq"
	KindActiveMQ = "activemq"
	KindPlain    = "plain"
)

// SASL mechanisms for Broker.SASL.
const (
	SASLPlain     = "plain"
	SASLExternal  = "external"
	SASLAnonymous = "anonymous"
	SASLNone      = "none"
)

// Registry locates the schema registry (Confluent-compatible API).
type Registry = adapters.Registry

// RuleSchema makes a rule enforce the Kafka topic's schema. A body that
// does not fit goes to the topic's dead-letter topic with the reason, and
// the message is accepted once the dead letter is in Kafka.
type RuleSchema = adapters.RuleSchema

// IngressRule carries the messages of one AMQP address into Kafka.
type IngressRule struct {
	// Name labels the rule in metrics and logs; ingress[i] when left out.
	Name string `yaml:"name,omitempty"`
	// Address is where the receiver attaches: a queue name (orders, or
	// queue:orders), topic:NAME for a broker topic, or an address in the
	// broker's own syntax (beginning with / or holding ://), used as is.
	Address string `yaml:"address"`
	// Topic is the Kafka topic template, e.g. legacy.{subject}: {address}
	// (the rule's address as configured), {subject}, {message-id},
	// {correlation-id}, {group-id}, {reply-to} and {property.NAME} (an
	// application property). Characters a Kafka topic cannot hold become _;
	// a message whose topic renders empty, with an empty placeholder, or
	// to a name starting with _ goes to _mesh.dlq.unroutable instead.
	Topic string `yaml:"topic"`
	// Key is the record key template, with the placeholders of topic; left
	// out, the key is the message's subject, else its message-id, else
	// none.
	Key string `yaml:"key,omitempty"`
	// Type is the ce_type template; the Kafka topic when left out.
	Type string `yaml:"type,omitempty"`
	// ContentType, when set, is the events' content-type where a message
	// has none of its own.
	ContentType string `yaml:"content_type,omitempty"`
	// Schema, when set, enforces the Kafka topic's registered schema.
	Schema *RuleSchema `yaml:"schema,omitempty"`
}

// EgressRule carries the records of Kafka topics to AMQP addresses.
type EgressRule struct {
	// Name labels the rule in metrics and logs; egress[i] when left out.
	Name string `yaml:"name,omitempty"`
	// Topics are the Kafka topics to consume.
	Topics []string `yaml:"topics"`
	// Group is the Kafka consumer group; meshwork-amqp-<site>-<name> when
	// left out.
	Group string `yaml:"group,omitempty"`
	// Address is the AMQP address template, in the syntax of ingress
	// addresses: {key}, {topic} (the Kafka topic) and {header.NAME}, e.g.
	// {header.mesh_reply_to} for replies; {key} when left out.
	Address string `yaml:"address,omitempty"`
	// Allow lists the address patterns a rendered address must match
	// (* matches any run of characters); required when address has
	// placeholders, since the key or a header then chooses where the
	// record goes. A record whose address matches none goes to its
	// dead-letter topic.
	Allow []string `yaml:"allow,omitempty"`
	// Body is how a record's value is sent: data (a data section, the
	// default; a BytesMessage to JMS) or value (an amqp-value string when
	// the value is valid UTF-8, else a data section; a TextMessage to JMS).
	Body string `yaml:"body,omitempty"`
	// Durable asks the broker to keep the messages across its restarts.
	Durable bool `yaml:"durable"`
}

// Body kinds for EgressRule.Body.
const (
	BodyData  = "data"
	BodyValue = "value"
)

// DefaultConfig returns the defaults: the broker kind told by its Open
// frame, a credit of 1024 messages per receiver, durable sends.
func DefaultConfig() Config {
	return Config{
		Common: service.DefaultCommon("127.0.0.1:8085", adapters.KafkaDefaults()),
		Broker: Broker{
			URL:                  "amqp://127.0.0.1:5672",
			Kind:                 KindAuto,
			IdleTimeout:          60 * time.Second,
			ConnectTimeout:       10 * time.Second,
			MaxReconnectInterval: 30 * time.Second,
			SendTimeout:          30 * time.Second,
			StallTimeout:         30 * time.Second,
		},
		MaxInFlight:   1024,
		NotReadyAfter: adapters.DefaultNotReadyAfter,
	}
}

// UnmarshalYAML makes egress sends durable unless a rule says otherwise.
func (r *EgressRule) UnmarshalYAML(unmarshal func(any) error) error {
	type plain EgressRule
	p := plain{Durable: true}
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
	in, out, err := c.rules()
	errs = append(errs, err)
	// A literal egress address that an ingress rule also receives from
	// would carry records round in a circle (ingress drops the adapter's
	// own messages, so they would never reach anyone else).
	for i, r := range out {
		if r.To == nil || !r.To.Literal() {
			continue
		}
		for _, ir := range in {
			if ir.address == r.To.String() {
				errs = append(errs, config.Errorf(fmt.Sprintf("egress[%d].address", i), "%q is also the address of ingress rule %s: the adapter would take back what it sends", ir.address, ir.Name))
			}
		}
	}
	errs = append(errs, adapters.Settings{
		Adapter: "AMQP", Registry: c.Registry, Acks: c.Kafka.Producer.Acks, NotReadyAfter: c.NotReadyAfter,
		SchemaRule: slices.IndexFunc(c.Ingress, func(r IngressRule) bool { return r.Schema != nil }),
	}.Validate())
	if c.MaxInFlight < 1 || c.MaxInFlight > 1<<20 {
		errs = append(errs, config.Errorf("max_in_flight", "want 1 to 1048576, got %d", c.MaxInFlight))
	}
	return errors.Join(errs...)
}

func (b *Broker) validate() error {
	var errs []error
	u, err := url.Parse(b.URL)
	switch {
	case err != nil || u.Host == "":
		errs = append(errs, config.Errorf("url", "want amqp://host:port or amqps://host:port, got %q", config.RedactURL(b.URL)))
	case u.Scheme != "amqp" && u.Scheme != "amqps":
		errs = append(errs, config.Errorf("url", "unsupported scheme %q; want amqp or amqps", u.Scheme))
	case u.Port() == "":
		errs = append(errs, config.Errorf("url", "want a port, as in amqp://host:5672, got %q", config.RedactURL(b.URL)))
	case u.Path != "" && u.Path != "/":
		errs = append(errs, config.Errorf("url", "want no path, got %q: name addresses in the rules", u.Path))
	}
	user := b.username()
	switch b.Kind {
	case KindAuto, KindRabbitMQ, KindActiveMQ, KindPlain:
	default:
		errs = append(errs, config.Errorf("kind", "want auto, rabbitmq, activemq or plain, got %q", b.Kind))
	}
	switch b.SASL {
	case "", SASLAnonymous, SASLNone:
	case SASLPlain:
		if user == "" {
			errs = append(errs, config.Errorf("username", "required with sasl plain"))
		}
	case SASLExternal:
		switch {
		case u == nil || u.Scheme != "amqps":
			errs = append(errs, config.Errorf("sasl", "external authenticates with the TLS client certificate: the url must be amqps://"))
		case b.TLS.CertFile == "":
			errs = append(errs, config.Errorf("tls.cert_file", "required with sasl external: the client certificate (and tls.key_file) is the adapter's identity at the broker"))
		}
		if user != "" || b.password().Set() {
			errs = append(errs, config.Errorf("username", "sasl external takes no username or password: the client certificate is the identity"))
		}
	default:
		errs = append(errs, config.Errorf("sasl", "want plain, external, anonymous or none, got %q", b.SASL))
	}
	errs = append(errs, adapters.CheckCredentials(b.Username, b.password()))
	if b.Username != "" && u != nil && u.User != nil {
		errs = append(errs, config.Errorf("username", "the url holds credentials too: give them once"))
	}
	errs = append(errs, config.Nest("tls", b.TLS.Validate()))
	if u != nil && u.Scheme != "amqps" && (b.TLS.CAFile != "" || b.TLS.CertFile != "") {
		errs = append(errs, config.Errorf("tls", "TLS files are set but the url %q is not amqps://", config.RedactURL(b.URL)))
	}
	if strings.ContainsAny(b.ContainerID, "\x00") {
		errs = append(errs, config.Errorf("container_id", "must not contain NUL"))
	}
	if b.IdleTimeout < 0 {
		errs = append(errs, config.Errorf("idle_timeout", "must not be negative"))
	}
	if b.ConnectTimeout <= 0 {
		errs = append(errs, config.Errorf("connect_timeout", "must be positive"))
	}
	if b.MaxReconnectInterval <= 0 {
		errs = append(errs, config.Errorf("max_reconnect_interval", "must be positive"))
	}
	if b.SendTimeout <= 0 {
		errs = append(errs, config.Errorf("send_timeout", "must be positive"))
	}
	if b.StallTimeout != 0 && b.StallTimeout < time.Second {
		errs = append(errs, config.Errorf("stall_timeout", "want 0 (off) or at least 1s, got %s", b.StallTimeout))
	}
	return errors.Join(errs...)
}

// password is where the password comes from.
func (b *Broker) password() config.SecretRef {
	return config.SecretRef{Field: "password", Value: b.Password, File: b.PasswordFile, Env: b.PasswordEnv}
}

// String shows the broker section with its secrets redacted (the
// password, and one in the URL): it is what fmt and log/slog print.
func (b Broker) String() string {
	type plain Broker // without this method
	r := plain(b)
	r.URL = config.RedactURL(r.URL)
	r.Password = config.Redact(r.Password)
	return fmt.Sprintf("%+v", r)
}

// LogValue is String for log/slog.
func (b Broker) LogValue() slog.Value { return slog.StringValue(b.String()) }

// username is the configured user, or the URL's.
func (b *Broker) username() string {
	if b.Username != "" {
		return b.Username
	}
	if u, err := url.Parse(b.URL); err == nil && u.User != nil {
		return u.User.Username()
	}
	return ""
}

// containerID is the configured container id, or the default for site.
func (c *Config) containerID() string {
	if c.Broker.ContainerID != "" {
		return c.Broker.ContainerID
	}
	return "meshwork-amqp-" + c.Site
}

// Template placeholders.
const (
	varAddress       = "address"
	varSubject       = "subject"
	varMessageID     = "message-id"
	varCorrelationID = "correlation-id"
	varGroupID       = "group-id"
	varReplyTo       = "reply-to"
	propertyPrefix   = "property."
)

// ingressRule is an IngressRule ready to receive and render.
type ingressRule struct {
	adapters.IngressTarget
	address string             // as configured: plain, queue:, topic: or the broker's syntax
	key     *adapters.Template // nil: subject, else message-id
}

// egressRule is an EgressRule ready to render.
type egressRule struct {
	adapters.EgressSource // To: the address
	name, group           string
	allow                 []string // nil: the literal address only
	body                  string
	durable               bool
}

// rules compiles the rules, with their defaults applied, and reports every
// problem by the field it concerns.
func (c *Config) rules() ([]ingressRule, []egressRule, error) {
	return adapters.CompileRules("amqp", c.Site, c.Ingress, c.Egress, IngressRule.compile, EgressRule.compile)
}

// RuleName is the name the rule was given.
func (r IngressRule) RuleName() string { return r.Name }

// RuleName is the name the rule was given.
func (r EgressRule) RuleName() string { return r.Name }

// RuleGroup is the consumer group the rule was given.
func (r EgressRule) RuleGroup() string { return r.Group }

func ingressVar(name string) bool {
	switch name {
	case varAddress, varSubject, varMessageID, varCorrelationID, varGroupID, varReplyTo:
		return true
	}
	return strings.HasPrefix(name, propertyPrefix) && len(name) > len(propertyPrefix)
}

func (r IngressRule) compile(name string) (ingressRule, error) {
	out := ingressRule{address: r.Address}
	var errs []error
	if err := checkAddress(r.Address); err != nil {
		errs = append(errs, config.Errorf("address", "%v", err))
	}
	var err error
	out.IngressTarget, err = adapters.CompileIngressTarget(name, r.Topic, r.Type, r.ContentType, r.Schema, ingressVar)
	errs = append(errs, err)
	if r.Key != "" {
		if out.key, err = adapters.ParseTemplate(r.Key, ingressVar); err != nil {
			errs = append(errs, config.Errorf("key", "%v", err))
		}
	}
	return out, errors.Join(errs...)
}

func (r EgressRule) compile(name, group string) (egressRule, error) {
	out := egressRule{name: name, group: group, allow: r.Allow, body: r.Body, durable: r.Durable}
	var err error
	out.EgressSource, err = adapters.CompileEgressSource(r.Topics, "address", r.Address)
	errs := []error{err}
	switch {
	case out.To == nil:
	case out.To.Literal():
		if err := checkAddress(out.To.String()); err != nil {
			errs = append(errs, config.Errorf("address", "%v", err))
		}
	case len(r.Allow) == 0:
		errs = append(errs, config.Errorf("allow", "required: address %q is chosen by each record's key or headers; list the address patterns it may name, e.g. [\"replies.*\"]", out.To))
	}
	for i, p := range r.Allow {
		if p == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("allow[%d]", i), "must not be empty"))
		}
	}
	switch r.Body {
	case "":
		out.body = BodyData
	case BodyData, BodyValue:
	default:
		errs = append(errs, config.Errorf("body", "want data or value, got %q", r.Body))
	}
	return out, errors.Join(errs...)
}
