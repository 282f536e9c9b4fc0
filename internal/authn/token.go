package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/meshwork/meshwork/internal/identity"
)

// bearer checks a bearer token: a static token first, else a JWT when a
// provider is configured. Every static token is compared, in constant
// time, so that timing tells nothing of which one nearly matched.
func (a *Authenticator) bearer(cr *credentials, tok string) (identity.Principal, *Failure) {
	sum := sha256.Sum256([]byte(tok))
	name := ""
	for known, n := range cr.tokens {
		if subtle.ConstantTimeCompare(known[:], sum[:]) == 1 {
			name = n
		}
	}
	if name != "" {
		return identity.Principal{Name: name, Method: identity.MethodToken}, nil
	}
	if a.jwt != nil && strings.Count(tok, ".") == 2 {
		k := keyed(a.key, "jwt", tok)
		if name, hit := a.cache.hit(k); hit {
			return identity.Principal{Name: name, Method: identity.MethodJWT}, nil
		}
		p, exp, f := a.jwt.verify(tok)
		if f == nil {
			a.cache.add(k, p.Name, exp)
		}
		return p, f
	}
	return identity.Principal{}, &Failure{Reason: ReasonUnknownToken, Detail: "the bearer token is not one this service knows"}
}
