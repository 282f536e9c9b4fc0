package rest

import (
	"context"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/policy"
)

// WithPolicy takes the authorization decisions through the mesh's policy
// (the common block's policy.file) in place of the configuration's
// grants; with a nil az (no policy file), those lists
// decide, as before. Authentication is the common auth section's.
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

// Authorize implements Authorizer; each denial is logged and counted.
func (pa PolicyAuthorizer) Authorize(ctx context.Context, p identity.Principal, action Action, resource string) bool {
	if action == ActionSubscriptions {
		return true
	}
	return pa.az.AllowPrincipal(ctx, p.Name, string(action), policy.Topic(resource)) == nil
}

// Permits implements permitter: a decision for filtering a list, neither
// logged nor counted as a denial.
func (pa PolicyAuthorizer) Permits(ctx context.Context, p identity.Principal, action Action, resource string) bool {
	if action == ActionSubscriptions {
		return true
	}
	return pa.az.DecidePrincipal(p.Name, string(action), policy.Topic(resource)).Allowed
}

// permitter is an Authorizer that can also decide quietly, for lists that
// leave out what the principal may not see (a hidden item is no denial).
type permitter interface {
	Permits(ctx context.Context, p identity.Principal, action Action, resource string) bool
}
