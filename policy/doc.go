// Package policy is the mesh's one authorization policy: who may do what on
// which topic, schema subject or operator verb, written once in
// policy.yaml and enforced by every HTTP surface (the schema registry, the
// REST adapter, the control plane), and translated into the Kafka ACLs it
// implies for Kafka's own enforcement (KafkaACLs).
//
// A policy is a list of rules that grant actions on resources to
// principals, and deny rules that win over any grant. Once a policy is set,
// what no rule grants is denied; without a policy file, every request is
// allowed, as before there was one. Names in rules are * patterns: a * matches any run of
// characters, every other character only itself.
//
//   - Parse / Load read a policy.yaml strictly, with errors naming
//     file:line and the field (an unknown action, an unknown resource kind,
//     an empty list, a pattern that can never match).
//   - Policy.Decide takes a decision and says why (Decision.Explain). The
//     patterns are compiled at load, and decisions are cached per principal,
//     action and resource in a bounded cache that a new version of the file
//     replaces, so a request pays a map lookup.
//   - Watcher holds the policy in force and reads the file again when it
//     changes; an invalid version is logged and counted, and the last valid
//     one stays in force.
//   - Authorizer is what a service asks (Allow): it reads the request's
//     principal from its context (package internal/identity), logs every
//     denial at a bounded rate and counts it.
package policy
