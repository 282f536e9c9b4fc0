package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type kafka struct {
	Brokers []string      `yaml:"brokers"`
	Timeout time.Duration `yaml:"timeout"`
}

type site struct {
	Kafka kafka `yaml:"kafka"`
	Port  int   `yaml:"port"`
}

type testConfig struct {
	Name  string          `yaml:"name"`
	Sites map[string]site `yaml:"sites"`
}

func (c *testConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, Errorf("name", "required"))
	}
	for n, s := range c.Sites {
		if len(s.Kafka.Brokers) == 0 {
			errs = append(errs, Errorf("sites."+n+".kafka.brokers", "at least one broker is required"))
		}
		for i, b := range s.Kafka.Brokers {
			if !strings.Contains(b, ":") {
				errs = append(errs, Nest("sites."+n+".kafka", Errorf("brokers["+itoa(i)+"]", "want host:port, got %q", b)))
			}
		}
	}
	return errors.Join(errs...)
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field", "name: a\nsites:\n  east:\n    kafka:\n      brokerz: [x]\n",
			`mesh.yaml:5:7: field sites.east.kafka.brokerz: unknown field "brokerz"`},
		{"wrong type", "name: a\nsites:\n  east:\n    port: eighty\n",
			`mesh.yaml:4:5: field sites.east.port: cannot use text "eighty" as an integer`},
		{"bad duration", "name: a\nsites:\n  east:\n    kafka:\n      timeout: soon\n",
			`mesh.yaml:5`},
		{"syntax", "name: a\n  sites: [\n", `mesh.yaml:2: invalid YAML`},
		{"validation points at the field", "name: a\nsites:\n  east:\n    kafka:\n      brokers: [ok:1, nope]\n",
			`mesh.yaml:5:23: field sites.east.kafka.brokers[1]: want host:port, got "nope"`},
		{"absent field points at its parent", "name: a\nsites:\n  west:\n    port: 1\n",
			`mesh.yaml:3:3: field sites.west.kafka.brokers: at least one broker is required`},
		{"missing top-level field", "sites: {}\n", `mesh.yaml: field name: required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := Parse("mesh.yaml", []byte(tc.doc), &c)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\ndoes not contain\n  %s", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "mesh.yaml" {
				t.Fatalf("want a *config.Error naming the file, got %T", err)
			}
		})
	}
}

func TestDefaultsSurvive(t *testing.T) {
	c := testConfig{Name: "default", Sites: map[string]site{}}
	if err := Parse("x.yaml", []byte("sites:\n  east:\n    kafka:\n      brokers: [a:1]\n      timeout: 2s\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "default" || c.Sites["east"].Kafka.Timeout != 2*time.Second {
		t.Fatalf("unexpected %+v", c)
	}
	empty := testConfig{Name: "kept"}
	if err := Parse("empty.yaml", nil, &empty); err != nil || empty.Name != "kept" {
		t.Fatalf("an empty file keeps the defaults: %v %+v", err, empty)
	}
}

func TestLoadNamesMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	err := Load(path, &testConfig{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("want a not-exist error naming the path, got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("name: a\nsites:\n  east:\n    kafka:\n      brokers: [a:1]\n")
	f.Add("sites: [1, 2]\n")
	f.Add("a: &x {b: *x}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var c testConfig
		err := Parse("f.yaml", []byte(doc), &c)
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
