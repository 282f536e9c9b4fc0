// Package rest is the HTTP face of the mesh: ingress compatible with
// Confluent REST Proxy (v2 and v3) and CloudEvents over HTTP, and egress to
// webhooks with retries and a dead-letter queue.
package rest
