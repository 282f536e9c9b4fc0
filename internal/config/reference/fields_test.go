package reference

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestRows(t *testing.T) {
	_, rows, err := walk(Doc{Title: "Fixture", KeyNames: map[string]string{"ports": "service"}}, fixtureDefaults())
	if err != nil {
		t.Fatal(err)
	}
	const certDoc = "`cert_file` and `key_file` hold the client certificate."
	const tokenDoc = "`token` authenticates; prefer `token_file`, which keeps it out of the file."
	want := []row{
		{path: "name", typ: "text", doc: "`name` names the service."},
		{path: "timeout", typ: "duration", def: "5s", doc: "`timeout` bounds a request."},
		{path: "server", section: "server", typ: "mapping", doc: "`server` is where the service connects."},
		{path: "server.addr", section: "server", typ: "text", def: "127.0.0.1:80", doc: "`addr` is host:port."},
		// A secret shows no default; the field after it shares its comment,
		// which names it.
		{path: "server.token", section: "server", typ: "text", secret: true, doc: tokenDoc},
		{path: "server.token_file", section: "server", typ: "text", doc: tokenDoc},
		// Inlined: beside addr, documented by the embedded type.
		{path: "server.cert_file", section: "server", typ: "text", doc: certDoc},
		{path: "server.key_file", section: "server", typ: "text", doc: certDoc},
		{path: "rules", section: "rules", typ: "list of mappings", doc: "`rules` apply in order; the first that matches wins."},
		{path: "rules[].match", section: "rules", typ: "text", doc: "`match` is a topic filter."},
		// An entry's defaults are what its UnmarshalYAML gives.
		{path: "rules[].qos", section: "rules", typ: "integer", def: "1", doc: "`qos` is 0, 1 or 2."},
		{path: "ports.<service>", typ: "integer", def: "{http: 8080}", doc: "`ports` by service | 0 picks a free port."},
		{path: "routes.<key>", section: "routes", typ: "mapping", inFull: true, doc: "`routes` by name, e.g. api-<version>."},
		{path: "routes.<key>.to", section: "routes", typ: "text", doc: "`to` is where the route leads."},
		{path: "routes.<key>.key", section: "routes", typ: "text", secret: true, doc: "`key` signs the route's requests."},
		{path: "tags", typ: "list of text", def: "[a, b]", doc: "`tags` label the metrics."},
		// A nil pointer to a section: its fields are listed all the same.
		{path: "extra", section: "extra", typ: "mapping", doc: "`extra`, when set, turns extras on."},
		{path: "extra.level", section: "extra", typ: "integer", doc: "`level` is how much extra."},
		// A pointer set to false is a default, unlike a nil one.
		{path: "verbose", typ: "boolean", def: "false", doc: "`verbose` logs more; unset leaves it to the build."},
		// No tag: the yaml package's lower-cased name. Timeout, a plain
		// word, is left as it is in the middle of a sentence.
		{path: "maxretries", typ: "integer", def: "3", doc: "`maxretries` bounds the retries of a request within Timeout."},
	}
	for i := range max(len(rows), len(want)) {
		var got, w row
		if i < len(rows) {
			got = rows[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if got != w {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
}

func TestWalkErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  Doc
		v    any
		want []string
	}{
		{"undocumented fields are listed with where to write", Doc{Title: "x"}, undocumented{}, []string{
			"3 field(s) have no doc comment; write one above each",
			// Next to a comment that does not name it: not documented by it.
			lineOf(t, "\tUsername  string") + ": reference.undocumented.Username (username)",
			lineOf(t, "\tInner     undocumentedInner") + ": reference.undocumented.Inner (inner)",
			// After a blank line: not documented by the comment above.
			lineOf(t, "\tBare string") + ": reference.undocumentedInner.Bare (inner.bare)",
		}},
		{"not a struct", Doc{Title: "x"}, 3, []string{"want a config struct holding the defaults (e.g. DefaultConfig()), got int"}},
		{"nil pointer", Doc{Title: "x"}, (*fixture)(nil), []string{"got *reference.fixture"}},
		{"no title", Doc{}, fixture{}, []string{"Doc.Title is empty"}},
		{"a struct from outside the module", Doc{Title: "x"}, foreign{}, []string{
			"size: image.Point is declared outside github.com/meshwork/meshwork", `tag the field yaml:"-"`}},
		{"a recursive type", Doc{Title: "x"}, recursive{}, []string{"next: reference.recursive contains itself"}},
		{"an anonymous struct", Doc{Title: "x"}, anonymous{}, []string{"anon: struct { X int } is an anonymous struct: declare it as a named type"}},
		{"a func", Doc{Title: "x"}, withFunc{}, []string{`hook: a func() cannot be written in YAML: tag the field yaml:"-"`}},
		{"an unexported embedded struct", Doc{Title: "x"}, embedsUnexported{}, []string{"embeds the unexported reference.fixtureExtra"}},
		{"a key name for no mapping", Doc{Title: "x", KeyNames: map[string]string{"server.ports": "service"}}, fixture{}, []string{
			"Doc.KeyNames names server.ports, which is not a mapping field of reference.fixture"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Markdown(tc.doc, tc.v)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestUserWords(t *testing.T) {
	keys := map[string]string{"ClientID": "client_id", "Kafka": "kafka", "Password": "password", "PasswordFile": "password_file"}
	for _, tc := range []struct{ in, want string }{
		{"ClientID overrides the client id.", "`client_id` overrides the client id."},
		{"Kafka is the Kafka cluster.", "`kafka` is the Kafka cluster."},
		{"Password is the secret; prefer PasswordFile.", "`password` is the secret; prefer `password_file`."},
		{"Set `ClientID` in code.", "Set `ClientID` in code."},
		{"ClientIDs are not field names.", "ClientIDs are not field names."},
		{"", ""},
	} {
		if got := userWords(tc.in, keys); got != tc.want {
			t.Errorf("userWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPhrase(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{map[string][]int{}, "mapping of text to lists of integers"},
		{[][]bool{}, "list of lists of booleans"},
		{[]float64{}, "list of numbers"},
		{new(any), "value"},
		{make(chan int), ""},
	} {
		if got := phrase(reflect.TypeOf(tc.v)); got != tc.want {
			t.Errorf("phrase(%T) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// lineOf returns file:line of the line of fixtures_test.go that starts with
// prefix, as errors name it.
func lineOf(t *testing.T, prefix string) string {
	t.Helper()
	data, err := os.ReadFile("fixtures_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, prefix) {
			return fmt.Sprintf("internal/config/reference/fixtures_test.go:%d", i+1)
		}
	}
	t.Fatalf("no line %q in fixtures_test.go", prefix)
	return ""
}
