package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := Secret("inline", "", "x.password_file"); err != nil || v != "inline" {
		t.Fatalf("inline: %q %v", v, err)
	}
	if v, err := Secret("", path, "x.password_file"); err != nil || v != "s3cret" {
		t.Fatalf("file: %q %v", v, err)
	}
	if _, err := Secret("", path+".missing", "x.password_file"); err == nil || !strings.HasPrefix(err.Error(), "x.password_file: ") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSecretRefResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PW": "from-env", "BLANK": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		name    string
		ref     SecretRef
		want    string
		wantErr string
	}{
		{"inline", SecretRef{Field: "sasl.password", Value: "inline"}, "inline", ""},
		{"file", SecretRef{Field: "sasl.password", File: file}, "from-file", ""},
		{"env", SecretRef{Field: "sasl.password", Env: "PW"}, "from-env", ""},
		{"none", SecretRef{Field: "sasl.password"}, "", ""},
		{"missing file", SecretRef{Field: "sasl.password", File: file + ".missing"}, "", "sasl.password_file: open " + file + ".missing"},
		{"empty file", SecretRef{Field: "sasl.password", File: empty}, "", "sasl.password_file: " + empty + " is empty"},
		{"unset variable", SecretRef{Field: "sasl.password", Env: "NOPE"}, "", "sasl.password_env: environment variable NOPE is not set"},
		{"empty variable", SecretRef{Field: "sasl.password", Env: "BLANK"}, "", "sasl.password_env: environment variable BLANK is empty"},
		{"two forms", SecretRef{Field: "sasl.password", Value: "x", Env: "PW"}, "", "sasl.password: set one of sasl.password_file, sasl.password_env or sasl.password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ref.resolve(lookup)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error starting %q", got, err, tc.wantErr)
				}
				for _, secret := range []string{"from-file", "from-env", "inline"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("the error shows the secret: %v", err)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSecretRefResolveReadsTheFileEachTime(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	ref := SecretRef{Field: "password", File: file}
	for _, v := range []string{"first", "rotated"} {
		if err := os.WriteFile(file, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := ref.Resolve(); err != nil || got != v {
			t.Fatalf("got %q, %v; want %q", got, err, v)
		}
	}
}

func TestSecretRefCheck(t *testing.T) {
	if err := (SecretRef{Field: "password"}).Check(true); err == nil || err.Error() != "password_file: required: set password_file (a file holding the secret), password_env (an environment variable holding it) or password" {
		t.Fatalf("required: %v", err)
	}
	if err := (SecretRef{Field: "password"}).Check(false); err != nil {
		t.Fatalf("optional: %v", err)
	}
	if err := (SecretRef{Field: "password", File: "f", Env: "E"}).Check(false); err == nil {
		t.Fatal("two forms must be refused")
	}
}

type secretLeaf struct {
	User      string `yaml:"username"`
	Pass      string `yaml:"password,omitempty" json:"-" secret:"true"`
	PassFile  string `yaml:"password_file,omitempty"`
	NotSecret string `yaml:"note"`
}

type secretInline struct {
	Token string `yaml:"token" json:"-" secret:"true"`
}

type secretRoot struct {
	secretInline `yaml:",inline"`
	Kafka        struct {
		SASL secretLeaf `yaml:"sasl"`
	} `yaml:"kafka"`
	Users []secretLeaf              `yaml:"users"`
	Sites map[string]*secretLeaf    `yaml:"sites"`
	Ptr   *secretLeaf               `yaml:"ptr"`
	Any   map[string]any            `yaml:"any"`
	Deep  map[string][]secretInline `yaml:"deep"`
}

func TestInlineSecrets(t *testing.T) {
	var r secretRoot
	r.Token = "t"
	r.Kafka.SASL = secretLeaf{User: "u", Pass: "p", NotSecret: "n"}
	r.Users = []secretLeaf{{PassFile: "f"}, {Pass: "p"}}
	r.Sites = map[string]*secretLeaf{"west": {Pass: "p"}, "east": {Pass: "p"}, "north": nil}
	r.Deep = map[string][]secretInline{"a": {{}, {Token: "t"}}}
	got := InlineSecrets(&r)
	want := []string{"token", "kafka.sasl.password", "users[1].password", "sites.east.password", "sites.west.password", "deep.a[1].token"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := InlineSecrets(secretRoot{}); len(got) != 0 {
		t.Fatalf("an empty config has no inline secrets, got %q", got)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://mesh:s3cret@broker:5672": "amqp://mesh:xxxxx@broker:5672",
		"amqp://broker:5672":             "amqp://broker:5672",
		"amqp://mesh@broker:5672":        "amqp://mesh@broker:5672",
		"amqp://mesh:s3cret@bro ker:%zz": "(a URL not shown: it may hold a password)",
		"::bad":                          "::bad",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
