package identity

import "context"

// Methods by which a principal was proven.
const (
	MethodAnonymous = "anonymous" // no credentials: authentication is off
	MethodBasic     = "basic"     // HTTP basic user and password
	MethodToken     = "token"     // a static bearer token
	MethodJWT       = "jwt"       // a JWT verified against the issuer's keys
	MethodCert      = "cert"      // a client certificate verified by TLS
	MethodSASL      = "sasl"      // a Kafka SASL user
)

// Principal is who made a request.
type Principal struct {
	// Name is what the security policy matches: the basic user, the
	// token's name, the JWT's subject (or configured claim), the client
	// certificate's CN or SAN, or the SASL user.
	Name string
	// Method says how the principal was proven (Method* above).
	Method string
}

// Anonymous is the principal of a request when authentication is off.
var Anonymous = Principal{Name: "anonymous", Method: MethodAnonymous}

// IsAnonymous reports whether p carries no proven identity.
func (p Principal) IsAnonymous() bool { return p.Method == MethodAnonymous || p.Name == "" }

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal ctx carries, or Anonymous.
func FromContext(ctx context.Context) Principal {
	if p, ok := ctx.Value(ctxKey{}).(Principal); ok {
		return p
	}
	return Anonymous
}
