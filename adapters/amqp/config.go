package amqp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/kafkaclient"
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
	// username), anonymous (the default without one), or none for brokers
	// that accept connections without a SASL layer.
	SASL string `yaml:"sasl"`
	// Username authenticates with SASL PLAIN, with password or
	// password_file.
	Username string `yaml:"username,omitempty"`
	// Password is the secret; prefer password_file.
	Password string `yaml:"password,omitempty" json:"-"`
	// PasswordFile names a file holding the password (its trailing newline
	// dropped), read when the adapter starts.
	PasswordFile string `yaml:"password_file,omitempty"`
	// TLS applies to amqps:// URLs.
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
	SASLAnonymous = "anonymous"
	SASLNone      = "none"
)

// Registry locates the schema registry (Confluent-compatible API).
type Registry struct {
	// URL is the registry's base URL, e.g. http://127.0.0.1:8081.
	URL string `yaml:"url"`
}

// RuleSchema makes a rule enforce the Kafka topic's schema. A body that
// does not fit goes to the topic's dead-letter topic with the reason, and
// the message is accepted once the dead letter is in Kafka.
type RuleSchema struct {
	// Format is what applications send: json (encoded to Avro with the
	// latest schema of the subject <kafka topic>-value) or avro (already in
	// the Confluent wire format, checked against the schema it names).
	Format string `yaml:"format"`
}

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
		Common: service.DefaultCommon("127.0.0.1:8085", adapterKafkaDefaults()),
		Broker: Broker{
			URL:                  "amqp://127.0.0.1:5672",
			Kind:                 KindAuto,
			IdleTimeout:          60 * time.Second,
			ConnectTimeout:       10 * time.Second,
			MaxReconnectInterval: 30 * time.Second,
			SendTimeout:          30 * time.Second,
		},
		MaxInFlight:   1024,
		NotReadyAfter: adapters.DefaultNotReadyAfter,
	}
}

// adapterKafkaDefaults are the Kafka client defaults with a short linger:
// the ingress holds each message's settlement until Kafka acknowledged it
// anyway, and a millisecond of batching cuts the produce requests.
func adapterKafkaDefaults() kafkaclient.Config {
	c := kafkaclient.Defaults()
	c.Producer.Linger = time.Millisecond
	return c
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
		if r.address == nil || !r.address.Literal() {
			continue
		}
		for _, ir := range in {
			if ir.address == r.address.String() {
				errs = append(errs, config.Errorf(fmt.Sprintf("egress[%d].address", i), "%q is also the address of ingress rule %s: the adapter would take back what it sends", ir.address, ir.name))
			}
		}
	}
	for i, r := range c.Ingress {
		if r.Schema != nil && c.Registry.URL == "" {
			errs = append(errs, config.Errorf("registry.url", "required: ingress[%d] has a schema", i))
			break
		}
	}
	if c.Registry.URL != "" {
		if u, err := url.Parse(c.Registry.URL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, config.Errorf("registry.url", "want http://host:port, got %q", c.Registry.URL))
		}
	}
	if a := c.Kafka.Producer.Acks; a != "" && a != kafkaclient.AcksAll {
		errs = append(errs, config.Errorf("kafka.producer.acks", "the AMQP adapter accepts messages only after Kafka acknowledged them: it needs acks all, got %q", a))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 1<<20 {
		errs = append(errs, config.Errorf("max_in_flight", "want 1 to 1048576, got %d", c.MaxInFlight))
	}
	if c.NotReadyAfter < time.Second {
		errs = append(errs, config.Errorf("not_ready_after", "want at least 1s, got %s", c.NotReadyAfter))
	}
	return errors.Join(errs...)
}

func (b *Broker) validate() error {
	var errs []error
	u, err := url.Parse(b.URL)
	switch {
	case err != nil || u.Host == "":
		errs = append(errs, config.Errorf("url", "want amqp://host:port or amqps://host:port, got %q", b.URL))
	case u.Scheme != "amqp" && u.Scheme != "amqps":
		errs = append(errs, config.Errorf("url", "unsupported scheme %q; want amqp or amqps", u.Scheme))
	case u.Port() == "":
		errs = append(errs, config.Errorf("url", "want a port, as in amqp://host:5672, got %q", b.URL))
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
	default:
		errs = append(errs, config.Errorf("sasl", "want plain, anonymous or none, got %q", b.SASL))
	}
	if b.Password != "" && b.PasswordFile != "" {
		errs = append(errs, config.Errorf("password_file", "set password or password_file, not both"))
	}
	if (b.Password != "" || b.PasswordFile != "") && b.Username == "" {
		errs = append(errs, config.Errorf("username", "required with a password"))
	}
	if b.Username != "" && u != nil && u.User != nil {
		errs = append(errs, config.Errorf("username", "the url holds credentials too: give them once"))
	}
	errs = append(errs, config.Nest("tls", b.TLS.Validate()))
	if u != nil && u.Scheme != "amqps" && (b.TLS.CAFile != "" || b.TLS.CertFile != "") {
		errs = append(errs, config.Errorf("tls", "TLS files are set but the url %q is not amqps://", b.URL))
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
	return errors.Join(errs...)
}

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
	varKey           = "key"
	varTopic         = "topic"
	headerPrefix     = "header."
)

// ingressRule is an IngressRule ready to receive and render.
type ingressRule struct {
	name        string
	address     string // as configured: plain, queue:, topic: or the broker's syntax
	topic       *adapters.Template
	key         *adapters.Template // nil: subject, else message-id
	typ         *adapters.Template // nil: the Kafka topic
	contentType string
	schema      string // "" or adapters.FormatJSON, FormatAvro
}

// egressRule is an EgressRule ready to render.
type egressRule struct {
	name, group string
	topics      []string
	address     *adapters.Template
	allow       []string // nil: the literal address only
	body        string
	durable     bool
}

// rules compiles the rules, with their defaults applied, and reports every
// problem by the field it concerns.
func (c *Config) rules() ([]ingressRule, []egressRule, error) {
	var errs []error
	names := make(map[string]string)
	name := func(field, given string) string {
		n := given
		if n == "" {
			n = field
		}
		if prev, dup := names[n]; dup {
			errs = append(errs, config.Errorf(field+".name", "%q is also the name of %s", n, prev))
		}
		names[n] = field
		return n
	}
	var in []ingressRule
	for i, r := range c.Ingress {
		field := fmt.Sprintf("ingress[%d]", i)
		cr, err := r.compile(name(field, r.Name))
		errs = append(errs, config.Nest(field, err))
		in = append(in, cr)
	}
	var out []egressRule
	for i, r := range c.Egress {
		field := fmt.Sprintf("egress[%d]", i)
		n := name(field, r.Name)
		group := r.Group
		if group == "" {
			group = "meshwork-amqp-" + c.Site + "-" + adapters.SanitizeTopic(n)
		}
		cr, err := r.compile(n, group)
		errs = append(errs, config.Nest(field, err))
		out = append(out, cr)
	}
	return in, out, errors.Join(errs...)
}

func ingressVar(name string) bool {
	switch name {
	case varAddress, varSubject, varMessageID, varCorrelationID, varGroupID, varReplyTo:
		return true
	}
	return strings.HasPrefix(name, propertyPrefix) && len(name) > len(propertyPrefix)
}

func (r IngressRule) compile(name string) (ingressRule, error) {
	out := ingressRule{name: name, address: r.Address, contentType: r.ContentType}
	var errs []error
	if err := checkAddress(r.Address); err != nil {
		errs = append(errs, config.Errorf("address", "%v", err))
	}
	var err error
	switch out.topic, err = adapters.ParseTemplate(r.Topic, ingressVar); {
	case err != nil:
		errs = append(errs, config.Errorf("topic", "%v", err))
	case strings.HasPrefix(r.Topic, "_"):
		errs = append(errs, config.Errorf("topic", "%q: topics beginning with _ belong to the mesh, the registry and Kafka itself", r.Topic))
	case out.topic.Literal() && !adapters.LegalTopic(r.Topic):
		errs = append(errs, config.Errorf("topic", "%q is not a legal Kafka topic: use letters, digits, '.', '_' and '-'", r.Topic))
	}
	if r.Key != "" {
		if out.key, err = adapters.ParseTemplate(r.Key, ingressVar); err != nil {
			errs = append(errs, config.Errorf("key", "%v", err))
		}
	}
	if r.Type != "" {
		if out.typ, err = adapters.ParseTemplate(r.Type, ingressVar); err != nil {
			errs = append(errs, config.Errorf("type", "%v", err))
		}
	}
	if r.ContentType != "" && !strings.Contains(r.ContentType, "/") {
		errs = append(errs, config.Errorf("content_type", "%q is not a media type such as application/json", r.ContentType))
	}
	if r.Schema != nil {
		switch r.Schema.Format {
		case adapters.FormatJSON, adapters.FormatAvro:
			out.schema = r.Schema.Format
		default:
			errs = append(errs, config.Errorf("schema.format", "want json or avro, got %q", r.Schema.Format))
		}
		if r.ContentType != "" {
			errs = append(errs, config.Errorf("content_type", "a rule with a schema writes Avro: leave content_type out"))
		}
	}
	return out, errors.Join(errs...)
}

func (r EgressRule) compile(name, group string) (egressRule, error) {
	out := egressRule{name: name, group: group, topics: r.Topics, allow: r.Allow, body: r.Body, durable: r.Durable}
	var errs []error
	if len(r.Topics) == 0 {
		errs = append(errs, config.Errorf("topics", "at least one Kafka topic is required"))
	}
	for i, t := range r.Topics {
		if !adapters.LegalTopic(t) {
			errs = append(errs, config.Errorf(fmt.Sprintf("topics[%d]", i), "%q is not a legal Kafka topic", t))
		}
	}
	tmpl := r.Address
	if tmpl == "" {
		tmpl = "{" + varKey + "}"
	}
	known := func(name string) bool {
		return name == varKey || name == varTopic || strings.HasPrefix(name, headerPrefix) && len(name) > len(headerPrefix)
	}
	var err error
	if out.address, err = adapters.ParseTemplate(tmpl, known); err != nil {
		errs = append(errs, config.Errorf("address", "%v", err))
	} else if out.address.Literal() {
		if err := checkAddress(tmpl); err != nil {
			errs = append(errs, config.Errorf("address", "%v", err))
		}
	} else if len(r.Allow) == 0 {
		errs = append(errs, config.Errorf("allow", "required: address %q is chosen by each record's key or headers; list the address patterns it may name, e.g. [\"replies.*\"]", tmpl))
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
