// Package service gives every Meshwork service one shape, so that a new
// service is a config type and a constructor.
//
// A service (an adapter, the replicator, the schema registry) implements
// Service: its constructor checks the configuration and does no I/O; Start
// begins the work; Ready says whether it does its job; Close stops it
// gracefully within a deadline. Its configuration embeds Common, the block
// every service's YAML file starts with (site, listen, log, kafka).
//
// Run is the whole main of a service's command: flags (-config, -check,
// -config-reference, -version, -h), the configuration file, the logger, the
// /metrics, /healthz and /readyz endpoints (and the service's own API, if
// it has one), signals, and a graceful stop. The dev mesh drives the same
// services through the same interface.
package service
