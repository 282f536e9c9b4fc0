package adapters

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/meshwork/meshwork/internal/config"
)

// RegistryAuth are an adapter's credentials at a schema registry that
// authenticates its clients: HTTP basic (username with a password, what
// Confluent clients send with basic.auth.credentials.source=USER_INFO) or
// a bearer token. Each secret comes from a file (read at each request, so
// a rotated secret is used at once), an environment variable, or inline
// (warned at start).
type RegistryAuth struct {
	// Username authenticates with HTTP basic, with password_file,
	// password_env or password.
	Username string `yaml:"username,omitempty"`
	// Password is the secret written inline; prefer password_file or
	// password_env.
	Password string `yaml:"password,omitempty" json:"-" secret:"true"`
	// PasswordFile names a file holding the password.
	PasswordFile string `yaml:"password_file,omitempty"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env,omitempty"`
	// Token is a bearer token written inline, sent instead of a username
	// and password; prefer token_file or token_env.
	Token string `yaml:"token,omitempty" json:"-" secret:"true"`
	// TokenFile names a file holding the bearer token.
	TokenFile string `yaml:"token_file,omitempty"`
	// TokenEnv names an environment variable holding the bearer token.
	TokenEnv string `yaml:"token_env,omitempty"`
}

func (a RegistryAuth) password() config.SecretRef {
	return config.SecretRef{Field: "password", Value: a.Password, File: a.PasswordFile, Env: a.PasswordEnv}
}

func (a RegistryAuth) token() config.SecretRef {
	return config.SecretRef{Field: "token", Value: a.Token, File: a.TokenFile, Env: a.TokenEnv}
}

// Validate checks the credentials; field paths are relative to the
// registry section.
func (a RegistryAuth) Validate() error {
	errs := []error{CheckCredentials(a.Username, a.password()), a.token().Check(false)}
	if a.Username != "" && !a.password().Set() {
		errs = append(errs, config.Errorf("password_file", "required with a username: set password_file, password_env or password"))
	}
	if a.Username != "" && a.token().Set() {
		errs = append(errs, config.Errorf("token", "give a username and password or a token, not both"))
	}
	return errors.Join(errs...)
}

// transport adds the credentials to every request through base; without
// credentials it is base. The files are read once now, so a missing one
// stops the adapter at start.
func (a RegistryAuth) transport(base http.RoundTripper) (http.RoundTripper, error) {
	pw, tok := a.password(), a.token()
	pw.Field, tok.Field = "registry."+pw.Field, "registry."+tok.Field
	switch {
	case a.Username != "":
		if _, err := pw.Resolve(); err != nil {
			return nil, err
		}
	case tok.Set():
		if _, err := tok.Resolve(); err != nil {
			return nil, err
		}
	default:
		return base, nil
	}
	return &authTransport{base: base, user: a.Username, password: pw, token: tok}, nil
}

// authTransport sets Authorization on each request, reading the secret
// anew each time.
type authTransport struct {
	base            http.RoundTripper
	user            string
	password, token config.SecretRef
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not change the caller's request
	if t.user != "" {
		pw, err := t.password.Resolve()
		if err != nil {
			return nil, fmt.Errorf("schema registry credentials: %w", err)
		}
		req.SetBasicAuth(t.user, pw)
	} else {
		tok, err := t.token.Resolve()
		if err != nil {
			return nil, fmt.Errorf("schema registry credentials: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return t.base.RoundTrip(req)
}
