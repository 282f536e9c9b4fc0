package reference

import (
	"image"
	"time"

	"go.yaml.in/yaml/v3"
)

// The types below are the fixtures of the tests: config types with one field
// of each shape a reference walks. Their doc comments are part of the
// fixture (the reference reads them from this file).

// fixture is a service's configuration.
type fixture struct {
	// Name names the service.
	Name string `yaml:"name"`
	// Timeout bounds a request.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Server is where the service connects.
	Server fixtureServer `yaml:"server"`
	// Rules apply in order; the first that matches wins.
	Rules []fixtureRule `yaml:"rules,omitempty"`
	// Ports by service | 0 picks a free port.
	Ports map[string]int `yaml:"ports,omitempty"`
	// Routes by name, e.g. api-<version>.
	Routes map[string]fixtureRoute `yaml:"routes,omitempty"`
	// Tags label the metrics.
	Tags []string `yaml:"tags,omitempty"`
	// Extra, when set, turns extras on.
	Extra *fixtureExtra `yaml:"extra,omitempty"`
	// Verbose logs more; unset leaves it to the build.
	Verbose *bool `yaml:"verbose,omitempty"`
	// MaxRetries bounds the retries of a request within Timeout.
	MaxRetries int
	Hidden     string `yaml:"-"`
	//lint:ignore U1000 the reference must skip unexported fields, which this one is here to prove
	unexported int
}

type fixtureServer struct {
	// Addr is host:port.
	Addr string `yaml:"addr"`
	// Token authenticates; prefer TokenFile, which keeps it out of the file.
	Token     string `yaml:"token,omitempty" json:"-"`
	TokenFile string `yaml:"token_file,omitempty"`
	// FixtureTLS is inlined: its fields sit beside addr.
	FixtureTLS `yaml:",inline"`
}

type FixtureTLS struct {
	// CertFile and KeyFile hold the client certificate.
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

type fixtureRule struct {
	// Match is a topic filter.
	Match string `yaml:"match"`
	// QoS is 0, 1 or 2.
	QoS byte `yaml:"qos"`
}

// UnmarshalYAML gives a rule QoS 1 unless it says otherwise.
func (r *fixtureRule) UnmarshalYAML(n *yaml.Node) error {
	type plain fixtureRule
	p := plain{QoS: 1}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*r = fixtureRule(p)
	return nil
}

type fixtureRoute struct {
	To  string `yaml:"to"`                     // To is where the route leads.
	Key string `yaml:"key,omitempty" json:"-"` // Key signs the route's requests.
}

type fixtureExtra struct {
	// Level is how much extra.
	Level int `yaml:"level"`
}

func fixtureDefaults() fixture {
	verbose := false
	return fixture{
		Timeout:    5 * time.Second,
		Server:     fixtureServer{Addr: "127.0.0.1:80", Token: "s3cret-token"},
		Ports:      map[string]int{"http": 8080},
		Routes:     map[string]fixtureRoute{"home": {To: "/", Key: "s3cret-key"}},
		Tags:       []string{"a", "b"},
		Verbose:    &verbose,
		MaxRetries: 3,
		Hidden:     "not in YAML",
	}
}

// undocumented leaves fields without a doc comment.
type undocumented struct {
	// Mechanism is how to authenticate.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Inner     undocumentedInner
}

type undocumentedInner struct {
	// Documented is documented.
	Documented string

	Bare string
}

type foreign struct {
	// Size is a struct of another module's... of the standard library.
	Size image.Point `yaml:"size"`
}

type recursive struct {
	// Next is another of the same.
	Next *recursive `yaml:"next"`
}

type anonymous struct {
	// Anon has no type name to find its docs by.
	Anon struct {
		X int
	} `yaml:"anon"`
}

type withFunc struct {
	// Hook cannot be written in YAML.
	Hook func() `yaml:"hook"`
}

type embedsUnexported struct {
	fixtureExtra `yaml:",inline"`
}
