package reference

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFixtureReference is the rendering test: testdata/fixture.md is the
// reference of the fixture, for review. Regenerate it with
// UPDATE_REFERENCE=1 go test ./internal/config/reference.
func TestFixtureReference(t *testing.T) {
	Check(t, "testdata/fixture.md", Doc{
		Title:    "Fixture configuration",
		Intro:    "A service's configuration, one field of each shape.",
		KeyNames: map[string]string{"ports": "service"},
	}, fixtureDefaults())
}

func TestSecretsNeverShow(t *testing.T) {
	v := fixtureDefaults()
	md, err := Markdown(Doc{Title: "x"}, &v)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret-token", "s3cret-key"} {
		if strings.Contains(md, secret) {
			t.Errorf("the reference shows the secret %q:\n%s", secret, md)
		}
	}
	if !strings.Contains(md, "  home:\n    to: /\n") || !strings.Contains(md, "addr: 127.0.0.1:80") {
		t.Errorf("the defaults lost more than the secrets:\n%s", md)
	}
	if v.Server.Token != "s3cret-token" || v.Routes["home"].Key != "s3cret-key" {
		t.Errorf("rendering changed the caller's value: %+v", v)
	}
}

// fakeTB records what Check and CheckExamples report.
type fakeTB struct {
	name        string
	fatal, logs []string
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return f.name }
func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = append(f.fatal, fmt.Sprintf(format, args...))
}

func TestCheck(t *testing.T) {
	doc := Doc{Title: "Fixture"}
	current, err := Markdown(doc, fixtureDefaults())
	if err != nil {
		t.Fatal(err)
	}
	stale := strings.Replace(current, "`timeout` bounds a request.", "`timeout` bounds everything.", 1)
	regenerate := "UPDATE_REFERENCE=1 go test -run '^TestConfig$/^kafka_section$' ./internal/config/reference"
	for _, tc := range []struct {
		name     string
		file     *string // nil: no file
		update   bool
		v        any
		fatal    []string // what the failure says; none: no failure
		wantFile string   // the file afterwards
	}{
		{name: "up to date", file: &current, v: fixtureDefaults(), wantFile: current},
		{name: "stale", file: &stale, v: fixtureDefaults(), wantFile: stale, fatal: []string{
			"ref.md is out of date with the config types: at line",
			`"| ` + "`timeout`" + ` | duration | ` + "`5s`" + ` | ` + "`timeout`" + ` bounds a request. |"`,
			"do not edit it",
			regenerate,
		}},
		{name: "missing", v: fixtureDefaults(), fatal: []string{"ref.md does not exist; generate it with", regenerate}},
		{name: "code errors are reported", file: &current, v: undocumented{}, wantFile: current, fatal: []string{"have no doc comment"}},
		{name: "update rewrites", file: &stale, update: true, v: fixtureDefaults(), wantFile: current},
		{name: "update creates", update: true, v: fixtureDefaults(), wantFile: current},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ref.md")
			if tc.file != nil {
				if err := os.WriteFile(path, []byte(*tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.update {
				t.Setenv(UpdateEnv, "1")
			} else {
				t.Setenv(UpdateEnv, "")
			}
			tb := &fakeTB{name: "TestConfig/kafka_section"}
			Check(tb, path, doc, tc.v)
			if len(tc.fatal) == 0 && len(tb.fatal) > 0 {
				t.Fatalf("unexpected failure: %s", tb.fatal)
			}
			if len(tc.fatal) > 0 && len(tb.fatal) != 1 {
				t.Fatalf("want one failure, got %q", tb.fatal)
			}
			for _, w := range tc.fatal {
				if !strings.Contains(tb.fatal[0], w) {
					t.Errorf("failure\n%s\ndoes not contain\n%s", tb.fatal[0], w)
				}
			}
			got, err := os.ReadFile(path)
			if tc.wantFile == "" {
				if err == nil {
					t.Errorf("a file was written")
				}
				return
			}
			if string(got) != tc.wantFile {
				t.Errorf("the file is\n%s\nwant\n%s", got, tc.wantFile)
			}
		})
	}
}

func TestModuleRoot(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "integration", "pkg")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "go.mod"), "// the mesh\nmodule github.com/meshwork/meshwork // main\n\ngo 1.26.0\n")
	write(filepath.Join(root, "integration", "go.mod"), "module github.com/meshwork/meshwork/integration\n")
	if got, err := moduleRoot(nested, modulePath); err != nil || got != root {
		t.Errorf("from a nested module: got %q, %v; want %q", got, err, root)
	}
	if _, err := moduleRoot(nested, "example.com/other"); err == nil || !strings.Contains(err.Error(), "run from inside the repository") {
		t.Errorf("without the module: got %v", err)
	}
}
