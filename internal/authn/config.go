package authn

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// Config is the auth section of a service's configuration. With nothing
// set, requests are not authenticated (a dev mesh on loopback).
type Config struct {
	// Users authenticate with HTTP basic credentials.
	Users []User `yaml:"users,omitempty" json:"users,omitempty"`
	// Tokens are static bearer tokens (Authorization: Bearer ...).
	Tokens []Token `yaml:"tokens,omitempty" json:"tokens,omitempty"`
	// JWT accepts bearer JWTs of an OIDC provider.
	JWT *JWT `yaml:"jwt,omitempty" json:"jwt,omitempty"`
	// ClientCertificates lets a client certificate that the listener's TLS
	// verified (tls.client_ca_file) prove the principal its
	// tls.client_identity field names.
	ClientCertificates bool `yaml:"client_certificates,omitempty" json:"client_certificates,omitempty"`
}

// User is a principal proven by HTTP basic credentials. Exactly one of the
// password fields is set.
type User struct {
	// Name is the user name and the principal.
	Name string `yaml:"name" json:"name"`
	// PasswordHash is a bcrypt hash of the password ($2a$, $2b$ or $2y$),
	// e.g. from htpasswd -nbB: the preferred form, since the
	// configuration then holds no secret.
	PasswordHash string `yaml:"password_hash,omitempty" json:"password_hash,omitempty"`
	// PasswordFile names a file holding the password (trailing newline
	// dropped); read at start and again when it changes.
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	// Password is the password inline; it loads with a warning at start.
	Password string `yaml:"password,omitempty" json:"-" secret:"true"`
}

// Token is a principal proven by a static bearer token. Exactly one of the
// token fields is set.
type Token struct {
	// Name is the principal the token proves.
	Name string `yaml:"name" json:"name"`
	// TokenFile names a file holding the token (trailing newline dropped);
	// read at start and again when it changes.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// TokenEnv names an environment variable holding the token.
	TokenEnv string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	// TokenSHA256 is the hex SHA-256 digest of the token, so that the
	// configuration holds no secret.
	TokenSHA256 string `yaml:"token_sha256,omitempty" json:"token_sha256,omitempty"`
	// Token is the token inline; it loads with a warning at start.
	Token string `yaml:"token,omitempty" json:"-" secret:"true"`
}

// JWT configures the verification of bearer JWTs.
type JWT struct {
	// JWKSURL is where the provider publishes its signing keys (its
	// discovery document's jwks_uri). Keys are fetched again every
	// refresh_interval, and at once (at most every 30 s) when a token
	// names a key id not seen yet.
	JWKSURL string `yaml:"jwks_url" json:"jwks_url"`
	// Issuer is the iss claim tokens must carry.
	Issuer string `yaml:"issuer" json:"issuer"`
	// Audience is a value the aud claim must hold.
	Audience string `yaml:"audience" json:"audience"`
	// PrincipalClaim names the claim that holds the principal. Default: sub.
	PrincipalClaim string `yaml:"principal_claim,omitempty" json:"principal_claim,omitempty"`
	// Algorithms are the signature algorithms accepted. Default: the
	// asymmetric ones (RS*, PS*, ES*, EdDSA); never none.
	Algorithms []string `yaml:"algorithms,omitempty" json:"algorithms,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Default: 30s.
	Leeway time.Duration `yaml:"leeway,omitempty" json:"leeway,omitempty"`
	// RefreshInterval is how often the keys are fetched again. Default: 1h.
	RefreshInterval time.Duration `yaml:"refresh_interval,omitempty" json:"refresh_interval,omitempty"`
	// TLS applies to an https jwks_url: the CA that verifies the provider
	// (the system's roots when left out), e.g. an organisation's own.
	TLS tlsconfig.Files `yaml:"tls,omitempty" json:"tls,omitempty"`
}

// Defaults of the JWT section.
const (
	DefaultPrincipalClaim  = "sub"
	DefaultLeeway          = 30 * time.Second
	DefaultRefreshInterval = time.Hour
)

// asymmetric are the algorithms a JWKS of public keys verifies.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Enabled reports whether requests must be authenticated.
func (c Config) Enabled() bool {
	return len(c.Users) > 0 || len(c.Tokens) > 0 || c.JWT != nil || c.ClientCertificates
}

// Validate checks the section without reading files or the environment.
// Errors are config.FieldErrors relative to it.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range c.Users {
		f := fmt.Sprintf("users[%d]", i)
		if u.Name == "" || strings.ContainsAny(u.Name, ":") {
			errs = append(errs, config.Errorf(f+".name", "want a user name without ':' (HTTP basic splits on it), got %q", u.Name))
		}
		if seen[u.Name] {
			errs = append(errs, config.Errorf(f+".name", "user %q is listed twice", u.Name))
		}
		seen[u.Name] = true
		if n := count(u.PasswordHash, u.PasswordFile, u.PasswordEnv, u.Password); n != 1 {
			errs = append(errs, config.Errorf(f, "want exactly one of password_hash, password_file, password_env or password, got %d", n))
		}
		if u.PasswordHash != "" {
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				errs = append(errs, config.Errorf(f+".password_hash", "want a bcrypt hash ($2a$, $2b$ or $2y$, e.g. from htpasswd -nbB USER PASSWORD): %v", err))
			}
		}
	}
	for i, t := range c.Tokens {
		f := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" {
			errs = append(errs, config.Errorf(f+".name", "want the principal the token proves"))
		}
		if n := count(t.TokenFile, t.TokenEnv, t.TokenSHA256, t.Token); n != 1 {
			errs = append(errs, config.Errorf(f, "want exactly one of token_file, token_env, token_sha256 or token, got %d", n))
		}
		if t.TokenSHA256 != "" {
			if b, err := hex.DecodeString(t.TokenSHA256); err != nil || len(b) != 32 {
				errs = append(errs, config.Errorf(f+".token_sha256", "want 64 hex digits (e.g. from: printf %%s TOKEN | sha256sum)"))
			}
		}
	}
	if c.JWT != nil {
		errs = append(errs, config.Nest("jwt", c.JWT.validate()))
	}
	return errors.Join(errs...)
}

func (j *JWT) validate() error {
	var errs []error
	if u, err := url.Parse(j.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, config.Errorf("jwks_url", "want the http(s) URL of the provider's JWK set, got %q", j.JWKSURL))
	}
	if j.Issuer == "" {
		errs = append(errs, config.Errorf("issuer", "want the iss claim the provider puts in its tokens"))
	}
	if j.Audience == "" {
		errs = append(errs, config.Errorf("audience", "want the aud value tokens for this mesh carry"))
	}
	for i, a := range j.Algorithms {
		if !slices.Contains(asymmetric, a) {
			errs = append(errs, config.Errorf(fmt.Sprintf("algorithms[%d]", i), "want one of %s, got %q", strings.Join(asymmetric, ", "), a))
		}
	}
	if j.Leeway < 0 || j.Leeway > 5*time.Minute {
		errs = append(errs, config.Errorf("leeway", "want 0 to 5m, got %s", j.Leeway))
	}
	if j.RefreshInterval < 0 || (j.RefreshInterval > 0 && j.RefreshInterval < time.Minute) {
		errs = append(errs, config.Errorf("refresh_interval", "want at least 1m, got %s", j.RefreshInterval))
	}
	errs = append(errs, config.Nest("tls", j.TLS.Validate()))
	return errors.Join(errs...)
}

func (j *JWT) principalClaim() string {
	if j.PrincipalClaim == "" {
		return DefaultPrincipalClaim
	}
	return j.PrincipalClaim
}

func (j *JWT) algorithms() []string {
	if len(j.Algorithms) == 0 {
		return asymmetric
	}
	return j.Algorithms
}

func (j *JWT) leeway() time.Duration {
	if j.Leeway == 0 {
		return DefaultLeeway
	}
	return j.Leeway
}

func (j *JWT) refreshInterval() time.Duration {
	if j.RefreshInterval == 0 {
		return DefaultRefreshInterval
	}
	return j.RefreshInterval
}

func count(s ...string) int {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	return n
}
