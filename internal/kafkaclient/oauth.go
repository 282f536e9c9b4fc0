package kafkaclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/meshwork/meshwork/internal/config"
)

// OAuth gives the bearer token of SASL OAUTHBEARER, in one of two ways: a
// token that something else keeps fresh (token_file, re-read at each
// authentication, so a rotated token is used from the next connection; or
// token_env), or the OAuth 2 client-credentials flow against token_url,
// the client secret from client_secret_file or client_secret_env (the token
// cached until shortly before it expires).
type OAuth struct {
	// Token is a bearer token written inline (it loads with a warning at
	// start, and expires); prefer token_file.
	Token string `yaml:"token,omitempty" json:"-" secret:"true"`
	// TokenFile names a file holding the token, read at each
	// authentication.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// TokenEnv names an environment variable holding the token.
	TokenEnv string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	// TokenURL is the OAuth 2 token endpoint of the client-credentials
	// flow, e.g. https://idp.example.com/oauth2/token.
	TokenURL string `yaml:"token_url,omitempty" json:"token_url,omitempty"`
	// ClientID is the client of the client-credentials flow.
	ClientID string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	// ClientSecret is the client's secret written inline (warned at
	// start); prefer client_secret_file or client_secret_env.
	ClientSecret string `yaml:"client_secret,omitempty" json:"-" secret:"true"`
	// ClientSecretFile names a file holding the client secret, read at
	// each token request.
	ClientSecretFile string `yaml:"client_secret_file,omitempty" json:"client_secret_file,omitempty"`
	// ClientSecretEnv names an environment variable holding the client
	// secret.
	ClientSecretEnv string `yaml:"client_secret_env,omitempty" json:"client_secret_env,omitempty"`
	// Scopes are requested with the token.
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Extensions are SASL extensions sent with the token (KIP-342), e.g.
	// logicalCluster and identityPoolId for Confluent Cloud.
	Extensions map[string]string `yaml:"extensions,omitempty" json:"extensions,omitempty"`
}

// String shows the section with its inline secrets redacted.
func (o OAuth) String() string {
	type plain OAuth // without this method
	r := plain(o)
	r.Token = config.Redact(r.Token)
	r.ClientSecret = config.Redact(r.ClientSecret)
	return fmt.Sprintf("%+v", r)
}

// LogValue is String for log/slog.
func (o OAuth) LogValue() slog.Value { return slog.StringValue(o.String()) }

func (o OAuth) token() config.SecretRef {
	return config.SecretRef{Field: "sasl.oauth.token", Value: o.Token, File: o.TokenFile, Env: o.TokenEnv}
}

func (o OAuth) clientSecret() config.SecretRef {
	return config.SecretRef{Field: "sasl.oauth.client_secret", Value: o.ClientSecret, File: o.ClientSecretFile, Env: o.ClientSecretEnv}
}

// validate checks the section; field paths are relative to it.
func (o OAuth) validate() error {
	tok := o.token()
	tok.Field = "token"
	sec := o.clientSecret()
	sec.Field = "client_secret"
	var errs []error
	switch {
	case tok.Set() && o.TokenURL != "":
		errs = append(errs, config.Errorf("token_url", "give a token (token_file, token_env) or a token_url, not both"))
	case tok.Set():
		errs = append(errs, tok.Check(true))
		if o.ClientID != "" || sec.Set() || len(o.Scopes) > 0 {
			errs = append(errs, config.Errorf("client_id", "client_id, client_secret and scopes go with token_url"))
		}
	case o.TokenURL != "":
		if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, config.Errorf("token_url", "want an http(s) URL of the token endpoint, got %q", o.TokenURL))
		} else if u.User != nil {
			errs = append(errs, config.Errorf("token_url", "must not hold credentials: set client_id and client_secret_file"))
		}
		if o.ClientID == "" {
			errs = append(errs, config.Errorf("client_id", "required with token_url"))
		}
		errs = append(errs, sec.Check(true))
	default:
		errs = append(errs, config.Errorf("token_file", "OAUTHBEARER needs a token: set token_file (or token_env), or token_url with client_id and client_secret_file"))
	}
	for k := range o.Extensions {
		if k == "auth" || k == "" || strings.ContainsAny(k, "=\x01") {
			errs = append(errs, config.Errorf("extensions", "invalid extension name %q", k))
		}
	}
	return errors.Join(errs...)
}

// mechanism returns the OAUTHBEARER mechanism, which asks for a token at
// each authentication. client serves the token endpoint's requests.
func (o OAuth) mechanism(client *http.Client) (sasl.Mechanism, error) {
	src, err := o.source(client)
	if err != nil {
		return nil, err
	}
	ext := o.Extensions
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := src(ctx)
		if err != nil {
			return oauth.Auth{}, err
		}
		return oauth.Auth{Token: tok, Extensions: ext}, nil
	}), nil
}

// source returns what gives a token at each authentication; the files it
// names are checked now, so a missing one stops the service at start.
func (o OAuth) source(client *http.Client) (func(context.Context) (string, error), error) {
	if o.TokenURL == "" {
		ref := o.token()
		if _, err := ref.Resolve(); err != nil {
			return nil, fmt.Errorf("kafka %w", err)
		}
		return func(context.Context) (string, error) {
			t, err := ref.Resolve()
			if err != nil {
				return "", fmt.Errorf("kafka oauth token: %w", err)
			}
			return t, nil
		}, nil
	}
	ref := o.clientSecret()
	if _, err := ref.Resolve(); err != nil {
		return nil, fmt.Errorf("kafka %w", err)
	}
	// ReuseTokenSource keeps the token until shortly before it expires,
	// safely for the several brokers that authenticate at once.
	ts := oauth2.ReuseTokenSource(nil, &tokenSource{oauth: o, secret: ref, client: client})
	return func(context.Context) (string, error) {
		tok, err := ts.Token()
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}, nil
}

// tokenSource runs the client-credentials flow, reading the client secret
// anew for each token request (a rotated secret is used from the next
// one).
type tokenSource struct {
	oauth  OAuth
	secret config.SecretRef
	client *http.Client
}

// Token asks the endpoint for a token, within tokenTimeout: the
// oauth2.TokenSource interface carries no context.
func (s *tokenSource) Token() (*oauth2.Token, error) {
	secret, err := s.secret.Resolve()
	if err != nil {
		return nil, fmt.Errorf("kafka oauth: %w", err)
	}
	cc := clientcredentials.Config{
		ClientID:     s.oauth.ClientID,
		ClientSecret: secret,
		TokenURL:     s.oauth.TokenURL,
		Scopes:       s.oauth.Scopes,
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.client)
	tok, err := cc.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka oauth: token from %s: %w", s.oauth.TokenURL, redactTokenError(err))
	}
	return tok, nil
}

// redactTokenError keeps what an operator needs of a failed token request
// (the status and the endpoint's error code) without the response body,
// which a misbehaving endpoint may fill with anything.
func redactTokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = "no error code"
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("the endpoint answered %d (%s)", status, code)
	}
	return err
}

// tokenTimeout bounds one token request.
const tokenTimeout = 30 * time.Second
