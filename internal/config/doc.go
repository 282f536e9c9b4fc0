// Package config loads a service's YAML configuration into its config struct
// and reports every problem with the file, line and field it concerns.
//
// A service states its defaults once, in code, by filling the struct before
// loading; the YAML file overrides what it mentions. Decoding is strict: an
// unknown field is an error (a typo must not silently fall back to a default).
// After decoding, the struct's own Validate method runs; it reports problems
// as FieldErrors naming the field by its YAML path (kafka.brokers[0]), and
// Load turns each into an Error carrying the line where that field, or its
// nearest enclosing field, is written.
package config

// Environment variables: ${NAME} anywhere in the file is replaced by the
// variable NAME before the file is parsed, so that one file serves every
// replica of a service (a Kubernetes pod's name or IP from the downward
// API: an MQTT client id, a registry's advertised URL). A variable that is
// unset is an error naming the line; $${ stands for a literal ${. The value
// is inserted as written: quote the field when it may hold YAML punctuation.
// A secret is better not written with ${NAME}: it would then sit inline in
// the decoded configuration. Secret fields have _file and _env forms
// (password_file, password_env; see SecretRef), read when the secret is
// used, and a service warns at start about every secret written inline
// (InlineSecrets).
