package authn

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/meshwork/meshwork/internal/config"
)

// Credentials are what a client of a mesh HTTP surface sends (an adapter
// to its schema registry, a registry to its primary): HTTP basic with
// username and one password field, or one token field as a bearer token.
// Secret files are read again when they change.
type Credentials struct {
	// Username sends HTTP basic credentials with the password.
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	// PasswordFile names a file holding the password.
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	// Password is the password inline; prefer password_file or
	// password_env.
	Password string `yaml:"password,omitempty" json:"-" secret:"true"`
	// TokenFile names a file holding a bearer token.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// TokenEnv names an environment variable holding a bearer token.
	TokenEnv string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	// Token is a bearer token inline; prefer token_file or token_env.
	Token string `yaml:"token,omitempty" json:"-" secret:"true"`
}

// Set reports whether any credential is configured.
func (c Credentials) Set() bool {
	return c.Username != "" || count(c.PasswordFile, c.PasswordEnv, c.Password, c.TokenFile, c.TokenEnv, c.Token) > 0
}

// Validate checks that the credentials are one complete kind. Errors are
// config.FieldErrors relative to the section holding them.
func (c Credentials) Validate() error {
	pw := count(c.PasswordFile, c.PasswordEnv, c.Password)
	tok := count(c.TokenFile, c.TokenEnv, c.Token)
	var errs []error
	switch {
	case c.Username != "" && pw != 1:
		errs = append(errs, config.Errorf("username", "want exactly one of password_file, password_env or password with it, got %d", pw))
	case c.Username == "" && pw > 0:
		errs = append(errs, config.Errorf("username", "a password needs the user name it goes with"))
	}
	if tok > 1 || (tok == 1 && c.Username != "") {
		errs = append(errs, config.Errorf("token_file", "want one credential: a user and password, or one of token_file, token_env or token"))
	}
	return errors.Join(errs...)
}

// Transport returns base sending the credentials in the Authorization
// header of every request that carries none already (a forwarded request
// keeps its caller's). It reads the secret now, so that a missing file is
// an error at start naming field (the section's path).
func (c Credentials) Transport(base http.RoundTripper, field string) (http.RoundTripper, error) {
	if !c.Set() {
		return base, nil
	}
	t := &credTransport{base: base, creds: c, field: field}
	if _, err := t.header(); err != nil {
		return nil, err
	}
	return t, nil
}

type credTransport struct {
	base  http.RoundTripper
	creds Credentials
	field string

	mu    sync.Mutex
	value string
	files map[string]fileStamp
}

// header returns the Authorization value, read again when a secret file
// changed; a file that cannot be read then keeps the value read before.
func (t *credTransport) header() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.value != "" && !(&credentials{files: t.files}).changed() {
		return t.value, nil
	}
	cr := &credentials{files: map[string]fileStamp{}}
	c := t.creds
	var v string
	if c.Username != "" {
		pw, err := cr.secret(c.Password, c.PasswordFile, c.PasswordEnv, t.field+".password")
		if err != nil {
			return t.value, err
		}
		v = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+pw))
	} else {
		tok, err := cr.secret(c.Token, c.TokenFile, c.TokenEnv, t.field+".token")
		if err != nil {
			return t.value, err
		}
		v = "Bearer " + tok
	}
	t.value, t.files = v, cr.files
	return v, nil
}

func (t *credTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return t.base.RoundTrip(req)
	}
	v, err := t.header()
	if v == "" {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", v)
	return t.base.RoundTrip(req)
}
