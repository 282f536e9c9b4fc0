package rest

import (
	"context"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/policy"
)

// WithPolicy takes the authorization decisions through the mesh's policy
// (the common block's policy.file) in place of the configuration's users'
// produce and consume lists; with a nil az (no policy file), those lists
// decide, as before. Authentication stays as it is.
func WithPolicy(az *policy.Authorizer) Option {
	return func(a *Adapter) {
		if az != nil {
			a.authz = PolicyAuthorizer{az}
		}
	}
}

// PolicyAuthorizer is the Authorizer backed by the mesh's policy: produce,
// consume and describe on topic:<t>. Managing webhook subscriptions needs
// no grant of its own: a subscription is decided by its topic (consume on
// topic:<t> to create one, to see or change or delete one), so a
// principal manages the subscriptions of the topics it may read.
type PolicyAuthorizer struct{ az *policy.Authorizer }

var _ Authorizer = PolicyAuthorizer{}

// principal is the adapter's own user, or, when the adapter authenticated
// nobody itself, who the service's authentication named (in ctx).
func principal(ctx context.Context, p Principal) string {
	if p == Anonymous {
		return identity.FromContext(ctx).Name
	}
	return p.Name
}

// Authorize implements Authorizer; each denial is logged and counted.
func (pa PolicyAuthorizer) Authorize(ctx context.Context, p Principal, action Action, resource string) bool {
	if action == ActionSubscriptions {
		return true
	}
	return pa.az.AllowPrincipal(ctx, principal(ctx, p), string(action), policy.Topic(resource)) == nil
}

// Permits implements permitter: a decision for filtering a list, neither
// logged nor counted as a denial.
func (pa PolicyAuthorizer) Permits(ctx context.Context, p Principal, action Action, resource string) bool {
	if action == ActionSubscriptions {
		return true
	}
	return pa.az.DecidePrincipal(principal(ctx, p), string(action), policy.Topic(resource)).Allowed
}

// permitter is an Authorizer that can also decide quietly, for lists that
// leave out what the principal may not see (a hidden item is no denial).
type permitter interface {
	Permits(ctx context.Context, p Principal, action Action, resource string) bool
}
