// Package identity carries who made a request, once authenticated, from
// the layer that checked the credentials (HTTP basic, bearer token, JWT,
// client certificate, Kafka SASL) to the code that decides what the
// request may do. It holds no credentials: only the principal's name and
// how it was proven.
package identity
