// Package reference generates the configuration reference of a service from
// its config types, so that what users read cannot drift from what the code
// accepts.
//
// A hand-written reference goes stale the day someone adds a field or
// changes a default. Here the config struct is the single source: Markdown
// walks it with reflect, as the yaml package decodes it (keys, inlining,
// lists, mappings), takes each field's description from its Go doc comment
// (read from the source with go/parser), its default from the value the
// service starts from (DefaultConfig()), and refuses to render while a
// field is undocumented. Secrets (fields tagged json:"-") never show a value.
//
// Two test helpers keep the Markdown honest: Check compares a committed
// reference with what the code generates now and, with UPDATE_REFERENCE=1,
// rewrites it; CheckExamples loads the YAML examples of a README through the
// real config type, so an example with a renamed field fails a test instead
// of a user's first start.
package reference
