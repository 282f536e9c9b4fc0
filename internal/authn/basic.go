package authn

import (
	"crypto/hmac"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/meshwork/meshwork/internal/identity"
)

// basic checks HTTP basic credentials. An unknown user costs the same
// bcrypt comparison as a known one, so that timing does not tell which
// users exist.
func (a *Authenticator) basic(cr *credentials, user, password string) (identity.Principal, *Failure) {
	u, known := cr.users[user]
	if !known {
		if a.dummy != nil {
			_ = bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
		}
		return identity.Principal{}, &Failure{Reason: ReasonUnknownUser, Detail: "unknown user or wrong password"}
	}
	ok := false
	if u.bcrypt != nil {
		k := keyed(a.key, "basic", user, password)
		if _, hit := a.cache.hit(k); hit {
			return identity.Principal{Name: user, Method: identity.MethodBasic}, nil
		}
		// Concurrent requests with the same credentials (a client's first
		// burst) share one comparison.
		v, _, _ := a.verifying.Do(string(k[:]), func() (any, error) {
			ok := a.compare(u.bcrypt, []byte(password)) == nil
			if ok {
				a.cache.add(k, user, time.Time{})
			}
			return ok, nil
		})
		ok = v.(bool)
	} else {
		got := keyed(a.key, password)
		ok = hmac.Equal(got[:], u.digest[:])
	}
	if !ok {
		return identity.Principal{}, &Failure{Reason: ReasonWrongPassword, Detail: "unknown user or wrong password"}
	}
	return identity.Principal{Name: user, Method: identity.MethodBasic}, nil
}
