package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// Environment variables of the credentials, when the flags are not given.
const (
	userEnv     = "MESHCTL_USER"
	passwordEnv = "MESHCTL_PASSWORD"
	tokenEnv    = "MESHCTL_TOKEN"
)

// defaultCredentials is where the dev mesh (make run ARGS=-secure) writes
// its users' credentials; meshctl uses the admin entry.
var defaultCredentials = filepath.Join(".mesh", "credentials.json")

// credentials are meshctl's credentials flags.
type credentials struct {
	user, password, token string
}

// addCredentialFlags adds --user, --password and --token to fs.
func (c *credentials) addFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.user, "user", "", "the user to authenticate as with HTTP basic (default: $"+userEnv+")")
	pf.StringVar(&c.password, "password", "", "the user's password (default: $"+passwordEnv+"; prefer the variable: flags show in ps)")
	pf.StringVar(&c.token, "token", "", "a bearer token, e.g. a JWT of the mesh's identity provider (default: $"+tokenEnv+")")
}

// authorization returns the Authorization header meshctl sends to the
// control plane and the registry: --token, --user with --password, their
// variables, else the admin of the dev mesh's credentials.json in the
// current directory; "" for none.
func (c *credentials) authorization() (string, error) {
	user, password, token := c.user, c.password, c.token
	if user == "" {
		user = os.Getenv(userEnv)
	}
	if password == "" {
		password = os.Getenv(passwordEnv)
	}
	if token == "" && user == "" {
		token = os.Getenv(tokenEnv)
	}
	switch {
	case token != "" && user != "":
		return "", errors.New("--token and --user: give one kind of credentials")
	case token != "":
		return "Bearer " + token, nil
	case user != "" && password == "":
		return "", fmt.Errorf("--user %s needs --password or $%s", user, passwordEnv)
	case user != "":
		return basic(user, password), nil
	}
	b, err := os.ReadFile(defaultCredentials)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var f map[string]struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return "", fmt.Errorf("%s: %w", defaultCredentials, err)
	}
	if admin, ok := f["admin"]; ok && admin.Username != "" {
		return basic(admin.Username, admin.Password), nil
	}
	return "", nil
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

type authorizationKey struct{}

// withAuthorization returns ctx carrying the Authorization header value.
func withAuthorization(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, authorizationKey{}, v)
}

// authorize sets the Authorization header ctx carries on req.
func authorize(ctx context.Context, req *http.Request) {
	if v, _ := ctx.Value(authorizationKey{}).(string); v != "" {
		req.Header.Set("Authorization", v)
	}
}

// authTransport sets the Authorization header of the command's context.
type authTransport struct {
	value string
	base  http.RoundTripper
}

func (t authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.value == "" || req.Header.Get("Authorization") != "" {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", t.value)
	return t.base.RoundTrip(req)
}
