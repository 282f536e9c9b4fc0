// Package authn authenticates the requests of the mesh's HTTP surfaces
// (the schema registry, the REST adapter, the control plane and every
// service's admin endpoints) from one configuration block, the common
// auth section of each service's file.
//
// A request proves who it comes from with one of:
//   - HTTP basic credentials (what Confluent clients send with
//     basic.auth.credentials.source=USER_INFO or URL), checked against
//     bcrypt hashes or against secrets read from files or the environment;
//   - a static bearer token (bearer.auth.credentials.source=STATIC_TOKEN),
//     known by its SHA-256 digest;
//   - a bearer JWT of an OIDC provider, verified against the keys its JWKS
//     URL publishes (refreshed periodically, and on an unknown key id at a
//     bounded rate), its issuer, audience and validity times;
//   - a client certificate the TLS handshake verified (mutual TLS), named
//     by the listener's client_identity field.
//
// The Authorization header comes before a certificate, so that a client
// with a certificate may still act as a user. A proven principal is put in
// the request's context (identity.NewContext), where authorization reads
// it. A refused request gets 401 with WWW-Authenticate challenges and a
// JSON body in Confluent's error shape ({"error_code": 40101, ...}), which
// the registry and the REST adapter both speak; refusals are counted by
// reason (meshwork_auth_failures_total) and logged, never with a secret.
//
// bcrypt is slow on purpose, so a successful basic verification is
// remembered for a while under a keyed digest of the user and password
// (never the password itself); failures are never remembered. Secret files
// are looked at again periodically and the credentials rebuilt when one
// changes, so rotating a password or token needs no restart.
package authn
