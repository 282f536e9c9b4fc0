package rest

import (
	"context"
	"net/http"
	"path"

	"github.com/meshwork/meshwork/internal/identity"
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

// Authorizer decides whether a principal may perform an action on a
// resource. The adapter's decisions all go through it, so that the
// mesh-wide security policy can take the decisions in place of the
// configuration file's rules (ConfigAuthorizer).
type Authorizer interface {
	Authorize(ctx context.Context, p identity.Principal, action Action, resource string) bool
}

// ConfigAuthorizer takes the decisions the configuration file's grants
// state: which topics each principal may produce to and consume (*
// patterns), and whether it may manage subscriptions; describing a topic
// goes with either. With no grants, every request is allowed (the
// principal was authenticated by the common auth section, if set).
type ConfigAuthorizer struct {
	grants map[string]Grant
}

// NewConfigAuthorizer returns the authorizer of grants.
func NewConfigAuthorizer(grants []Grant) *ConfigAuthorizer {
	a := &ConfigAuthorizer{grants: map[string]Grant{}}
	for _, g := range grants {
		a.grants[g.Principal] = g
	}
	return a
}

// Authorize implements Authorizer.
func (a *ConfigAuthorizer) Authorize(_ context.Context, p identity.Principal, action Action, resource string) bool {
	if len(a.grants) == 0 {
		return true
	}
	u, ok := a.grants[p.Name]
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

func principalOf(r *http.Request) identity.Principal { return identity.FromContext(r.Context()) }

// authorize answers 403 unless the request's principal may perform action
// on resource.
func (a *Adapter) authorize(r *http.Request, action Action, resource string) error {
	if a.allowed(r, action, resource) {
		return nil
	}
	name := principalOf(r).Name
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
