package authn

// Reasons a request is refused, the reason label of
// meshwork_auth_failures_total.
const (
	ReasonMissing           = "missing"            // no Authorization header (and no verified certificate)
	ReasonMalformed         = "malformed"          // an Authorization header that does not parse
	ReasonUnsupportedScheme = "unsupported_scheme" // neither Basic nor Bearer, or one not configured
	ReasonUnknownUser       = "unknown_user"       // basic credentials of a user not configured
	ReasonWrongPassword     = "wrong_password"     // basic credentials with the wrong password
	ReasonUnknownToken      = "unknown_token"      // a bearer token that is neither a known token nor a JWT
	ReasonInvalidJWT        = "invalid_jwt"        // a JWT with a bad signature, issuer, audience, algorithm or claim
	ReasonExpiredJWT        = "expired_jwt"        // a JWT past its exp (or before its nbf)
)

// Failure says why a request's credentials were refused. Detail is for
// the log and the client: it never holds a secret.
type Failure struct {
	Reason string
	Detail string
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Detail }

// bearer reports whether the refusal is of a bearer token, answered with
// Bearer error="invalid_token" (RFC 6750).
func (f *Failure) bearer() bool {
	return f.Reason == ReasonUnknownToken || f.Reason == ReasonInvalidJWT || f.Reason == ReasonExpiredJWT
}
