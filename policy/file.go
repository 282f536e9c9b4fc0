package policy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/meshwork/meshwork/internal/config"
)

// File is policy.yaml as written.
type File struct {
	// Rules grant actions on resources to principals. What no rule grants
	// is denied. Required: `rules: []` denies every request (an empty file
	// is an error, not a lockout, since it is what a half-written file
	// looks like).
	Rules []Rule `yaml:"rules"`
	// Deny rules refuse what they match, whatever the rules grant.
	Deny []Rule `yaml:"deny"`
	// Services names the principals of the mesh's own services, for the
	// Kafka ACLs the policy implies (meshctl policy kafka-acls).
	Services Services `yaml:"services"`
}

// Rule grants (or, in deny, refuses) every action of Actions on every
// resource of Resources to every principal of Principals.
type Rule struct {
	// Name is shown when a decision is explained; rules[i] or deny[i]
	// when empty.
	Name string `yaml:"name"`
	// Principals are principal names or * patterns: an HTTP basic user, a
	// token's name, a JWT's subject, a client certificate's identity, a
	// SASL user.
	Principals []string `yaml:"principals"`
	// Actions: produce, consume, describe (topics); read, write, delete
	// (schema subjects; read on anything is a read-only view); interest,
	// replay, redrive, config (operator verbs, on mesh or a topic); * for
	// all.
	Actions []string `yaml:"actions"`
	// Resources are kind:name with * patterns in the name (topic:orders.*,
	// subject:orders-value, group:billing-*), mesh (the mesh as a whole,
	// for operator verbs and read-only views), or * for all.
	Resources []string `yaml:"resources"`
}

// Services names the Kafka principals (SASL users or certificate names) of
// the mesh's own services.
type Services struct {
	Replicator   string `yaml:"replicator"`
	Registry     string `yaml:"registry"`
	MQTT         string `yaml:"mqtt"`
	AMQP         string `yaml:"amqp"`
	REST         string `yaml:"rest"`
	ControlPlane string `yaml:"controlplane"`
}

// Actions the policy knows.
const (
	ActionProduce  = "produce"  // write records to a topic
	ActionConsume  = "consume"  // read a topic's records (consumers, webhooks), use a group
	ActionDescribe = "describe" // see a topic's metadata
	ActionRead     = "read"     // a read-only view of anything: registry and control plane GETs
	ActionWrite    = "write"    // register a schema version, change a subject's config or mode
	ActionDelete   = "delete"   // delete a subject or one of its versions
	ActionInterest = "interest" // declare or withdraw a site's interest in a topic
	ActionReplay   = "replay"   // replay a topic's records
	ActionRedrive  = "redrive"  // send dead letters back to their topic
	ActionConfig   = "config"   // change the mesh's configuration
)

// Resource kinds, the part of a resource before its ':'.
const (
	KindTopic   = "topic"
	KindSubject = "subject"
	KindGroup   = "group"
	// Mesh is the resource of operator verbs and views on the mesh as a
	// whole (its sites, links, interest, traces); it has no name.
	Mesh = "mesh"
)

// actionKinds lists, for each action, the kinds of resource it applies to
// (read applies to every kind).
var actionKinds = map[string][]string{
	ActionProduce:  {KindTopic},
	ActionConsume:  {KindTopic, KindGroup},
	ActionDescribe: {KindTopic, KindGroup},
	ActionRead:     {KindTopic, KindSubject, KindGroup, Mesh},
	ActionWrite:    {KindSubject},
	ActionDelete:   {KindSubject},
	ActionInterest: {Mesh, KindTopic},
	ActionReplay:   {Mesh, KindTopic},
	ActionRedrive:  {Mesh, KindTopic},
	ActionConfig:   {Mesh, KindTopic},
}

// Actions returns every action the policy knows, sorted.
func Actions() []string {
	out := make([]string, 0, len(actionKinds))
	for a := range actionKinds {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

var kinds = []string{KindTopic, KindSubject, KindGroup}

// Topic, Subject and Group return the resource of a named topic, schema
// subject or consumer group.
func Topic(name string) string   { return KindTopic + ":" + name }
func Subject(name string) string { return KindSubject + ":" + name }
func Group(name string) string   { return KindGroup + ":" + name }

// Validate checks the file without changing it; field paths are the
// YAML's.
func (f *File) Validate() error {
	var errs []error
	if f.Rules == nil {
		errs = append(errs, config.Errorf("rules", "required: a policy without rules would deny every request; write `rules: []` if that is meant"))
	}
	for i := range f.Rules {
		errs = append(errs, config.Nest(fmt.Sprintf("rules[%d]", i), f.Rules[i].validate()))
	}
	for i := range f.Deny {
		errs = append(errs, config.Nest(fmt.Sprintf("deny[%d]", i), f.Deny[i].validate()))
	}
	errs = append(errs, config.Nest("services", f.Services.validate()))
	return errors.Join(errs...)
}

func (r *Rule) validate() error {
	var errs []error
	list := func(field string, items []string, check func(string) error) {
		if len(items) == 0 {
			errs = append(errs, config.Errorf(field, "must not be empty: a rule with no %s matches nothing (use [\"*\"] for all)", field))
		}
		for i, s := range items {
			if err := check(s); err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s[%d]", field, i), "%v", err))
			}
		}
	}
	list("principals", r.Principals, validPrincipal)
	list("actions", r.Actions, validAction)
	list("resources", r.Resources, validResource)
	// An action none of the rule's resources can take is a mistake (a
	// rule granting produce on a subject grants nothing).
	if !slices.Contains(r.Resources, "*") {
		for i, a := range r.Actions {
			want, ok := actionKinds[a]
			if !ok {
				continue
			}
			applies := false
			for _, res := range r.Resources {
				if slices.Contains(want, kindOf(res)) {
					applies = true
				}
			}
			if !applies {
				errs = append(errs, config.Errorf(fmt.Sprintf("actions[%d]", i),
					"%s applies to %s resources, and this rule names none (its resources: %s)", a, strings.Join(want, " or "), strings.Join(r.Resources, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

func kindOf(res string) string {
	if res == Mesh {
		return Mesh
	}
	k, _, _ := strings.Cut(res, ":")
	return k
}

func validPrincipal(s string) error {
	switch {
	case s == "":
		return errors.New("empty principal: name one, or \"*\" for every principal")
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("principal %q begins or ends with white space", s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("principal %q holds a control character", s)
	}
	return nil
}

func validAction(s string) error {
	if _, ok := actionKinds[s]; ok || s == "*" {
		return nil
	}
	return fmt.Errorf("unknown action %q: want one of %s, or \"*\"", s, strings.Join(Actions(), ", "))
}

func validResource(s string) error {
	if s == "*" || s == Mesh {
		return nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("resource %q: want kind:name (kinds: %s), %q or \"*\"", s, strings.Join(kinds, ", "), Mesh)
	}
	if !slices.Contains(kinds, kind) {
		return fmt.Errorf("resource %q: unknown kind %q: want %s (or %q alone)", s, kind, strings.Join(kinds, ", "), Mesh)
	}
	if name == "" {
		return fmt.Errorf("resource %q names nothing: write %s:* for every %s", s, kind, kind)
	}
	if kind == KindTopic {
		for _, c := range name {
			if !(c == '*' || c == '.' || c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return fmt.Errorf("resource %q can never match: a Kafka topic's name has only letters, digits, '.', '_' and '-' (and * here)", s)
			}
		}
		if len(strings.ReplaceAll(name, "*", "")) > 249 {
			return fmt.Errorf("resource %q can never match: a Kafka topic's name is at most 249 characters", s)
		}
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("resource %q holds a control character", s)
	}
	return nil
}

func (s *Services) validate() error {
	var errs []error
	for _, f := range s.fields() {
		if *f.name != "" {
			if err := validPrincipal(*f.name); err != nil {
				errs = append(errs, config.Errorf(f.key, "%v", err))
			} else if strings.Contains(*f.name, "*") {
				errs = append(errs, config.Errorf(f.key, "a service's principal is one name, not a pattern (%q)", *f.name))
			}
		}
	}
	return errors.Join(errs...)
}

type serviceField struct {
	key  string
	name *string
}

func (s *Services) fields() []serviceField {
	return []serviceField{
		{"replicator", &s.Replicator}, {"registry", &s.Registry}, {"mqtt", &s.MQTT},
		{"amqp", &s.AMQP}, {"rest", &s.REST}, {"controlplane", &s.ControlPlane},
	}
}

// CheckQuestion says what is wrong with a question to Decide: an unknown
// action, a resource that is not kind:name or mesh.
func CheckQuestion(action, resource string) error {
	if _, ok := actionKinds[action]; !ok {
		return fmt.Errorf("unknown action %q: want one of %s", action, strings.Join(Actions(), ", "))
	}
	if resource == "*" {
		return fmt.Errorf("resource %q: ask about one resource, kind:name or %s", resource, Mesh)
	}
	return validResource(resource)
}

// Parse reads a policy from data; name is used in errors (a file's path).
// Errors name the file, line and field.
func Parse(name string, data []byte) (*Policy, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, &config.Error{File: name, Msg: "the policy file is empty (a file half written looks so); write `rules: []` to deny every request"}
	}
	var f File
	if err := config.Parse(name, data, &f); err != nil {
		return nil, err
	}
	return Compile(f), nil
}

// Load reads the policy file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(path, data)
}
