package rest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// Action is what a principal asks to do.
type Action string

// Actions the API authorizes; the resource is a topic, or "" for
// subscriptions.
const (
	ActionProduce       Action = "produce"       // write records to the topic
	ActionConsume       Action = "consume"       // read the topic (consumers, webhooks)
	ActionDescribe      Action = "describe"      // see the topic's metadata
	ActionSubscriptions Action = "subscriptions" // manage webhook subscriptions
)

// Principal is who made a request; Anonymous when the adapter has no
// users configured.
type Principal struct {
	Name string
}

// Anonymous is the principal of every request when authentication is off.
var Anonymous = Principal{Name: "anonymous"}

// Authorizer decides whether a principal may perform an action on a
// resource. The adapter's decisions all go through it, so that the
// mesh-wide security policy can take the decisions in place of the
// configuration file's rules (ConfigAuthorizer).
type Authorizer interface {
	Authorize(ctx context.Context, p Principal, action Action, resource string) bool
}

// ConfigAuthorizer takes the decisions the configuration file's users
// state: which topics each may produce to and consume (* patterns), and
// whether it may manage subscriptions; describing a topic goes with either.
// With no users, every request is allowed.
type ConfigAuthorizer struct {
	users map[string]User
}

// NewConfigAuthorizer returns the authorizer of users.
func NewConfigAuthorizer(users []User) *ConfigAuthorizer {
	a := &ConfigAuthorizer{users: map[string]User{}}
	for _, u := range users {
		a.users[u.Name] = u
	}
	return a
}

// Authorize implements Authorizer.
func (a *ConfigAuthorizer) Authorize(_ context.Context, p Principal, action Action, resource string) bool {
	if len(a.users) == 0 {
		return true
	}
	u, ok := a.users[p.Name]
	if !ok {
		return false
	}
	switch action {
	case ActionProduce:
		return matchAny(u.Produce, resource)
	case ActionConsume:
		return matchAny(u.Consume, resource)
	case ActionDescribe:
		return matchAny(u.Produce, resource) || matchAny(u.Consume, resource)
	case ActionSubscriptions:
		return u.Subscriptions
	}
	return false
}

// matchAny reports whether s matches one of the * patterns.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok || p == "*" {
			return true
		}
	}
	return false
}

// authenticator checks credentials: HTTP basic (user and password) or a
// bearer token, both from the configuration (secrets read from files at
// start), or a client certificate that the TLS handshake verified.
// Secrets are compared in constant time, through their digests.
type authenticator struct {
	passwords map[string][32]byte // user -> sha256(password)
	tokens    map[[32]byte]string // sha256(token) -> user
	tls       tlsconfig.ServerFiles
}

func newAuthenticator(users []User, tc tlsconfig.ServerFiles) (*authenticator, error) {
	a := &authenticator{passwords: map[string][32]byte{}, tokens: map[[32]byte]string{}, tls: tc}
	for i, u := range users {
		ref := u.password()
		ref.Field = fmt.Sprintf("auth.users[%d].%s", i, ref.Field)
		pw, err := ref.Resolve()
		if err != nil {
			return nil, err
		}
		if pw != "" {
			a.passwords[u.Name] = sha256.Sum256([]byte(pw))
		}
		ref = u.token()
		ref.Field = fmt.Sprintf("auth.users[%d].%s", i, ref.Field)
		tok, err := ref.Resolve()
		if err != nil {
			return nil, err
		}
		if tok != "" {
			a.tokens[sha256.Sum256([]byte(tok))] = u.Name
		}
	}
	return a, nil
}

func (a *authenticator) enabled() bool { return len(a.passwords) > 0 || len(a.tokens) > 0 }

// principal returns who r comes from, or false when its credentials are
// missing or wrong. Credentials in the Authorization header come first;
// without them, a client certificate the handshake verified names the
// principal (its identity field); without either, the request is
// anonymous when no users are configured and refused otherwise.
func (a *authenticator) principal(r *http.Request) (Principal, bool) {
	_, _, basic := r.BasicAuth()
	bearer := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !basic && !bearer || !a.enabled() {
		if id := a.tls.ClientIdentityOf(r.TLS); id != "" {
			return Principal{Name: id}, true
		}
	}
	if !a.enabled() {
		return Anonymous, true
	}
	if user, pw, ok := r.BasicAuth(); ok {
		want, known := a.passwords[user]
		got := sha256.Sum256([]byte(pw))
		if known && subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
			return Principal{Name: user}, true
		}
		return Principal{}, false
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if user, known := a.tokens[sha256.Sum256([]byte(strings.TrimSpace(tok)))]; known {
			return Principal{Name: user}, true
		}
	}
	return Principal{}, false
}

type principalKey struct{}

// authenticate answers 401 to requests without valid credentials and
// hands the others on with their principal.
func (a *Adapter) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openapi.json" {
			next.ServeHTTP(w, r)
			return
		}
		p, ok := a.authn.principal(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="meshwork", Bearer`)
			how := "HTTP basic credentials or a bearer token this adapter knows"
			if a.authn.tls.Mutual() {
				how += ", or a client certificate its client CAs verify"
			}
			writeError(w, errorf(http.StatusUnauthorized, CodeUnauthenticated, "Unauthorized: send %s.", how))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func principalOf(r *http.Request) Principal {
	if p, ok := r.Context().Value(principalKey{}).(Principal); ok {
		return p
	}
	return Anonymous
}

// authorize answers 403 unless the request's principal may perform action
// on resource.
func (a *Adapter) authorize(r *http.Request, action Action, resource string) error {
	if a.allowed(r, action, resource) {
		return nil
	}
	name := principal(r.Context(), principalOf(r))
	if resource == "" {
		return errorf(http.StatusForbidden, CodeForbidden, "Forbidden: %s may not %s.", name, action)
	}
	return errorf(http.StatusForbidden, CodeForbidden, "Forbidden: %s may not %s topic %q.", name, action, resource)
}

func (a *Adapter) allowed(r *http.Request, action Action, resource string) bool {
	return a.authz.Authorize(r.Context(), principalOf(r), action, resource)
}

// visible reports whether the principal may see resource in a list: a
// decision that, with the policy, is neither logged nor counted as a
// denial.
func (a *Adapter) visible(r *http.Request, action Action, resource string) bool {
	if p, ok := a.authz.(permitter); ok {
		return p.Permits(r.Context(), principalOf(r), action, resource)
	}
	return a.allowed(r, action, resource)
}
