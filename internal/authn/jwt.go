package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/meshwork/meshwork/internal/identity"
)

// unknownKIDEvery bounds how often a token naming a key id not in the set
// makes the keys be fetched again: a provider that rotated its keys is
// followed within that time, and forged key ids cannot hammer it.
const unknownKIDEvery = 30 * time.Second

// unknownKIDWait bounds how long a request with an unknown key id waits
// for the keys to be fetched again.
const unknownKIDWait = 5 * time.Second

// jwtVerifier verifies bearer JWTs against the provider's JWK set, which
// keyfunc keeps fresh in a goroutine that ends with the context given.
type jwtVerifier struct {
	cfg    *JWT
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
}

func newJWTVerifier(ctx context.Context, cfg *JWT, client *http.Client, logger *slog.Logger, now func() time.Time) (*jwtVerifier, error) {
	noFirstErr := true // the provider may be down at start: tokens are refused until its keys are fetched
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               10 * time.Second,
		NoErrorReturnFirstHTTPReq: &noFirstErr,
		RefreshInterval:           cfg.refreshInterval(),
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(unknownKIDEvery), 1),
		// Bounds both the wait for the limiter and the refetch it allows (the
		// library uses one context for both): a token naming an unknown key
		// waits at most this long; when the limiter's next turn is further
		// away, it is refused at once.
		RateLimitWaitMax: unknownKIDWait,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				logger.Warn("auth: the JWT provider's keys could not be fetched; tokens signed by keys not yet known are refused", "jwks_url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth.jwt.jwks_url: %w", err)
	}
	return &jwtVerifier{
		cfg:  cfg,
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods(cfg.algorithms()),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.leeway()),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
		),
	}, nil
}

// verify returns the principal of a valid token and its expiry.
func (v *jwtVerifier) verify(raw string) (identity.Principal, time.Time, *Failure) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(raw, claims, v.keys.Keyfunc); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			return identity.Principal{}, time.Time{}, &Failure{Reason: ReasonExpiredJWT, Detail: "the token has expired or is not valid yet"}
		}
		return identity.Principal{}, time.Time{}, &Failure{Reason: ReasonInvalidJWT, Detail: "the token is invalid: " + err.Error()}
	}
	name, _ := claims[v.cfg.principalClaim()].(string)
	if name == "" {
		return identity.Principal{}, time.Time{}, &Failure{Reason: ReasonInvalidJWT,
			Detail: fmt.Sprintf("the token is invalid: its %s claim, which names the principal, is missing or not a string", v.cfg.principalClaim())}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil { // required by the parser: not reached
		return identity.Principal{}, time.Time{}, &Failure{Reason: ReasonInvalidJWT, Detail: "the token is invalid: no exp"}
	}
	// Within the leeway a token is still accepted; the cache keeps it no
	// longer than the parser would.
	return identity.Principal{Name: name, Method: identity.MethodJWT}, exp.Add(v.cfg.leeway()), nil
}
