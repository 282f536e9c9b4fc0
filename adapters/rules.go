package adapters

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// Registry locates the schema registry (Confluent-compatible API) that
// ingress rules with a schema use.
type Registry struct {
	// URL is the registry's base URL, e.g. http://127.0.0.1:8081.
	URL string `yaml:"url"`
	// TLS applies to an https URL: the CA that verifies the registry (the
	// system's roots when left out) and, where it requires mutual TLS,
	// the adapter's client certificate.
	TLS tlsconfig.Files `yaml:"tls,omitempty"`
	// Credentials are the adapter's, where the registry authenticates its
	// clients: username with a password, or a bearer token.
	authn.Credentials `yaml:",inline"`
}

// RuleSchema makes an ingress rule enforce the Kafka topic's schema. A
// payload that does not fit goes to the topic's dead-letter topic with the
// reason, and the message is acknowledged upstream once the dead letter is
// in Kafka.
type RuleSchema struct {
	// Format is what clients send: json (encoded to Avro with the latest
	// schema of the subject <kafka topic>-value) or avro (already in the
	// Confluent wire format, checked against the schema it names).
	Format string `yaml:"format"`
}

// Settings are the fields every adapter's configuration holds beside its
// broker and its rules, checked the same way for each.
type Settings struct {
	// Adapter names the adapter in messages, e.g. "MQTT".
	Adapter string
	// Registry is the configured schema registry; SchemaRule the index of
	// the first ingress rule with a schema, -1 when none has one.
	Registry   Registry
	SchemaRule int
	// Acks is the Kafka producer's acks setting, NotReadyAfter the
	// adapter's not_ready_after.
	Acks          string
	NotReadyAfter time.Duration
}

// Validate checks the settings; errors name fields by YAML path.
func (s Settings) Validate() error {
	var errs []error
	if s.SchemaRule >= 0 && s.Registry.URL == "" {
		errs = append(errs, config.Errorf("registry.url", "required: ingress[%d] has a schema", s.SchemaRule))
	}
	if s.Registry.URL != "" {
		if u, err := url.Parse(s.Registry.URL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, config.Errorf("registry.url", "want http://host:port, got %q", s.Registry.URL))
		}
	}
	errs = append(errs, config.Nest("registry.tls", s.Registry.TLS.Validate()), config.Nest("registry", s.Registry.Credentials.Validate()))
	if s.Acks != "" && s.Acks != kafkaclient.AcksAll {
		errs = append(errs, config.Errorf("kafka.producer.acks", "the %s adapter acknowledges a message to its sender only after Kafka acknowledged it: it needs acks all, got %q", s.Adapter, s.Acks))
	}
	if s.NotReadyAfter < time.Second {
		errs = append(errs, config.Errorf("not_ready_after", "want at least 1s, got %s", s.NotReadyAfter))
	}
	return errors.Join(errs...)
}

// RuleNames names an adapter's rules as it compiles them: a rule left
// unnamed is called by its field (ingress[0]), no two rules may share a
// name (metrics and logs tell them apart by it), and an egress rule left
// without a consumer group gets meshwork-<protocol>-<site>-<name>.
type RuleNames struct {
	protocol, site string
	seen           map[string]string // name -> field
	errs           []error
}

// NewRuleNames names the rules of the adapter for protocol (mqtt, amqp) at
// site.
func NewRuleNames(protocol, site string) *RuleNames {
	return &RuleNames{protocol: protocol, site: site, seen: map[string]string{}}
}

// Name is the name of the rule at field, given its configured name.
func (n *RuleNames) Name(field, given string) string {
	name := given
	if name == "" {
		name = field
	}
	if prev, dup := n.seen[name]; dup {
		n.errs = append(n.errs, config.Errorf(field+".name", "%q is also the name of %s", name, prev))
	}
	n.seen[name] = field
	return name
}

// Group is the consumer group of the egress rule called name, given its
// configured group.
func (n *RuleNames) Group(name, given string) string {
	if given != "" {
		return given
	}
	return "meshwork-" + n.protocol + "-" + n.site + "-" + SanitizeTopic(name)
}

// Err reports the names given twice.
func (n *RuleNames) Err() error { return errors.Join(n.errs...) }

// NamedRule is a configured rule, with the name it was given (empty:
// none).
type NamedRule interface{ RuleName() string }

// GroupedRule is a configured egress rule, with the consumer group it was
// given (empty: none).
type GroupedRule interface {
	NamedRule
	RuleGroup() string
}

// CompileRules compiles an adapter's rules (ingress and egress, the YAML
// lists of those names) with their names and groups given as RuleNames
// gives them, and reports every problem by the field it concerns.
func CompileRules[I NamedRule, E GroupedRule, IR, ER any](protocol, site string, in []I, out []E,
	compileIn func(r I, name string) (IR, error), compileOut func(r E, name, group string) (ER, error)) ([]IR, []ER, error) {
	names := NewRuleNames(protocol, site)
	ins, inErr := compileEach("ingress", in, func(field string, r I) (IR, error) {
		return compileIn(r, names.Name(field, r.RuleName()))
	})
	outs, outErr := compileEach("egress", out, func(field string, r E) (ER, error) {
		n := names.Name(field, r.RuleName())
		return compileOut(r, n, names.Group(n, r.RuleGroup()))
	})
	return ins, outs, errors.Join(inErr, outErr, names.Err())
}

// compileEach compiles the rules of one list, each under its field path
// list[i].
func compileEach[C, R any](list string, rules []C, compile func(field string, c C) (R, error)) ([]R, error) {
	var errs []error
	out := make([]R, 0, len(rules))
	for i, c := range rules {
		field := fmt.Sprintf("%s[%d]", list, i)
		r, err := compile(field, c)
		errs = append(errs, config.Nest(field, err))
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// EgressSource is what every egress rule says, whatever the protocol: the
// Kafka topics it reads, and the template of where each record goes.
type EgressSource struct {
	Topics []string
	// To renders the protocol address (MQTT topic, AMQP address) from a
	// record, with RecordLookup.
	To *Template
}

// CompileEgressSource compiles the rule fields topics and to (field names
// the address template's field, e.g. mqtt_topic); an empty template is
// {key}. Errors name the fields.
func CompileEgressSource(topics []string, field, to string) (EgressSource, error) {
	out := EgressSource{Topics: topics}
	var errs []error
	if len(topics) == 0 {
		errs = append(errs, config.Errorf("topics", "at least one Kafka topic is required"))
	}
	for i, t := range topics {
		if !LegalTopic(t) {
			errs = append(errs, config.Errorf(fmt.Sprintf("topics[%d]", i), "%q is not a legal Kafka topic", t))
		}
	}
	if to == "" {
		to = "{key}"
	}
	var err error
	if out.To, err = ParseTemplate(to, RecordVar); err != nil {
		errs = append(errs, config.Errorf(field, "%v", err))
	}
	return out, errors.Join(errs...)
}

// CheckCredentials checks a broker's username and password (one of
// password, password_file, password_env; password.Field is "password").
func CheckCredentials(username string, password config.SecretRef) error {
	errs := []error{password.Check(false)}
	if password.Set() && username == "" {
		errs = append(errs, config.Errorf("username", "required with a password"))
	}
	return errors.Join(errs...)
}

// KafkaDefaults are the Kafka client defaults of an adapter: those of
// every client, with a millisecond's linger. The ingress holds each
// message's acknowledgement until Kafka acknowledged it anyway, and a
// millisecond of batching halves the produce requests the brokers handle
// at thousands of messages a second.
func KafkaDefaults() kafkaclient.Config {
	c := kafkaclient.Defaults()
	c.Producer.Linger = time.Millisecond
	return c
}

// IngressTarget is what every ingress rule says of the events it writes,
// whatever the protocol: the Kafka topic, the ce_type, the content type
// and the schema to enforce. Templates render with the protocol's own
// placeholders.
type IngressTarget struct {
	// Name labels the rule in metrics and logs.
	Name string
	// Topic renders the Kafka topic; Type the ce_type (nil: the Kafka
	// topic).
	Topic, Type *Template
	// ContentType is the events' content-type where a message has none.
	ContentType string
	// Schema is "" or FormatJSON, FormatAvro.
	Schema string
}

// CompileIngressTarget compiles the rule fields topic, type, content_type
// and schema; known tells the protocol's placeholders. Errors name the
// fields.
func CompileIngressTarget(name, topic, typ, contentType string, schema *RuleSchema, known func(string) bool) (IngressTarget, error) {
	out := IngressTarget{Name: name, ContentType: contentType}
	var errs []error
	var err error
	switch out.Topic, err = ParseTemplate(topic, known); {
	case err != nil:
		errs = append(errs, config.Errorf("topic", "%v", err))
	case strings.HasPrefix(topic, "_"):
		errs = append(errs, config.Errorf("topic", "%q: topics beginning with _ belong to the mesh, the registry and Kafka itself", topic))
	case out.Topic.Literal() && !LegalTopic(topic):
		errs = append(errs, config.Errorf("topic", "%q is not a legal Kafka topic: use letters, digits, '.', '_' and '-'", topic))
	}
	if typ != "" {
		if out.Type, err = ParseTemplate(typ, known); err != nil {
			errs = append(errs, config.Errorf("type", "%v", err))
		}
	}
	if contentType != "" && !strings.Contains(contentType, "/") {
		errs = append(errs, config.Errorf("content_type", "%q is not a media type such as application/json", contentType))
	}
	if schema != nil {
		switch schema.Format {
		case FormatJSON, FormatAvro:
			out.Schema = schema.Format
		default:
			errs = append(errs, config.Errorf("schema.format", "want json or avro, got %q", schema.Format))
		}
		if contentType != "" {
			errs = append(errs, config.Errorf("content_type", "a rule with a schema writes Avro: leave content_type out"))
		}
	}
	return out, errors.Join(errs...)
}

// Route gives m what the rule says of every message: the rule's name, its
// schema, and the Kafka topic its template renders to with lookup
// (m.Record must be set). A message whose topic renders empty, with an
// empty placeholder, or to a topic no adapter may write is marked
// unroutable, the reason naming where it came from (from); Route then
// reports false.
func (t *IngressTarget) Route(m *Message, from string, lookup func(string) string) bool {
	m.Rule, m.Schema = t.Name, t.Schema
	rendered, err := t.Topic.RenderStrict(lookup)
	if err == nil {
		m.Record.Topic, err = Topic(rendered)
	}
	if err != nil {
		m.Record.Topic = SanitizeTopic(rendered)
		m.Invalid = fmt.Errorf("%s gives no Kafka topic: %w", from, err)
		m.Unroutable = true
		return false
	}
	return true
}

// Complete fills in what env, taken from a routed message's own
// properties, leaves out: the source (m.Source), the type (the rule's
// template, else the Kafka topic) and the rule's content type. Where an
// event entered the mesh and which sites it crossed are the mesh's to say,
// never a client's: Complete clears them and the pipeline sets them.
func (t *IngressTarget) Complete(env *envelope.Envelope, m *Message, lookup func(string) string) {
	env.Origin, env.Path = "", nil
	if env.Source == "" {
		env.Source = m.Source
	}
	if env.Type == "" {
		env.Type = m.Record.Topic
		if t.Type != nil {
			env.Type = t.Type.Render(lookup)
		}
	}
	if env.ContentType == "" {
		env.ContentType = t.ContentType
	}
}
