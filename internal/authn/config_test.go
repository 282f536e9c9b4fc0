package authn

import (
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/config"
)

func TestConfigValidate(t *testing.T) {
	good := "$2a$04$Q9vTqWKIoU8/IdZz3t1N2uJ1aD6Pn9Wc9q7nIhxJjZBmvZ3fIhJ2K"
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"two passwords", Config{Users: []User{{Name: "a", Password: "x", PasswordEnv: "E"}}}, "users[0]: want exactly one of password_hash, password_file, password_env or password, got 2"},
		{"no password", Config{Users: []User{{Name: "a"}}}, "users[0]: want exactly one"},
		{"colon in name", Config{Users: []User{{Name: "a:b", Password: "x"}}}, "users[0].name: want a user name without ':'"},
		{"twice", Config{Users: []User{{Name: "a", Password: "x"}, {Name: "a", Password: "y"}}}, `users[1].name: user "a" is listed twice`},
		{"not bcrypt", Config{Users: []User{{Name: "a", PasswordHash: "5f4dcc3b5aa765d61d8327deb882cf99"}}}, "users[0].password_hash: want a bcrypt hash"},
		{"token digest", Config{Tokens: []Token{{Name: "ci", TokenSHA256: "abc"}}}, "tokens[0].token_sha256: want 64 hex digits"},
		{"token name", Config{Tokens: []Token{{TokenEnv: "T"}}}, "tokens[0].name: want the principal"},
		{"jwt url", Config{JWT: &JWT{JWKSURL: "idp", Issuer: "i", Audience: "a"}}, "jwt.jwks_url: want the http(s) URL"},
		{"jwt audience", Config{JWT: &JWT{JWKSURL: "https://idp/jwks", Issuer: "i"}}, "jwt.audience: want the aud value"},
		{"jwt none", Config{JWT: &JWT{JWKSURL: "https://idp/jwks", Issuer: "i", Audience: "a", Algorithms: []string{"none"}}}, `jwt.algorithms[0]: want one of RS256`},
		{"jwt hmac", Config{JWT: &JWT{JWKSURL: "https://idp/jwks", Issuer: "i", Audience: "a", Algorithms: []string{"HS256"}}}, `got "HS256"`},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	ok := Config{Users: []User{{Name: "a", PasswordHash: good}}, Tokens: []Token{{Name: "t", TokenSHA256: strings.Repeat("ab", 32)}},
		JWT: &JWT{JWKSURL: "https://idp/jwks", Issuer: "i", Audience: "a"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if (Config{}).Enabled() || !ok.Enabled() {
		t.Fatal("Enabled")
	}
}

// Inline secrets carry the secret tag, so that a service warns about them
// at start (naming the field, never the value).
func TestInlineSecretsAreTagged(t *testing.T) {
	got := config.InlineSecrets(&struct {
		Auth  Config      `yaml:"auth"`
		Creds Credentials `yaml:"creds"`
	}{
		Auth:  Config{Users: []User{{Name: "a", Password: "x"}}, Tokens: []Token{{Name: "t", Token: "y"}}},
		Creds: Credentials{Username: "u", Password: "z", Token: "w"},
	})
	want := "auth.users[0].password auth.tokens[0].token creds.password creds.token"
	if strings.Join(got, " ") != want {
		t.Fatalf("inline secrets %q, want %q", got, want)
	}
}
