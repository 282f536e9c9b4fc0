// Package avrocompat parses Avro schemas and checks their compatibility for
// a schema registry that speaks the Confluent Schema Registry API.
//
// # API
//
//	func Parse(schema string, refs ...string) (avro.Schema, error)
//	func Normalize(schema string, refs ...string) (string, error)
//	func Canonical(s avro.Schema) string
//	func Equivalent(a, b avro.Schema) bool
//	func EquivalenceKey(s avro.Schema) string
//	func ParseLevel(s string) (Level, error)
//	func Check(level Level, candidate avro.Schema, existing []Version) []Incompatibility
//
// Parse serves POST /subjects/{s}/versions and friends; Equivalent finds an
// already registered schema; Normalize serves ?normalize=true; Check serves
// registration under a subject's level and POST
// /compatibility/subjects/{s}/versions/{v}?verbose=true, whose messages are
// the Incompatibility messages.
//
// # Parsing
//
// hamba/avro builds the schemas. Each Parse uses its own avro.SchemaCache
// holding exactly the types its references declare, never
// avro.DefaultSchemaCache, so a type the schema neither declares nor
// references is an error however many schemas the process parsed before.
// Before hamba/avro sees the text, a validator walks the JSON and explains
// mistakes with the record and field they are in. It follows the Avro
// specification (and so the Java library behind the Confluent registry)
// where hamba/avro is more lenient:
//
//   - a type name resolves by full name only, never through an alias;
//   - an unqualified name that is not declared in the enclosing namespace
//     resolves to a referenced type of that name in the null namespace, as
//     in Java (hamba/avro alone would not find it);
//   - a union holds each unnamed type once, whatever its logical type;
//   - defaults of primitive types, and of arrays, maps and unions of them,
//     must match their type exactly (1.5 is not an int; a union's default
//     matches its first branch); hamba/avro checks the others;
//   - JSON null is not a type (write "null"), an enum default must be one
//     of its symbols, and a fixed size is a whole number up to 1 MiB.
//
// Errors are *SchemaError values wrapping ErrInvalidSchema.
//
// # Equivalence and normal form
//
// Canonical returns the specification's Parsing Canonical Form, which keeps
// only what decides the binary encoding: no defaults, aliases, doc, logical
// types or properties. Two schemas differing only in a default have the same
// canonical form, yet resolve differently (a field with a default may be
// added compatibly, one without may not), so the canonical form alone must
// not decide that a schema is already registered.
//
// Equivalent is what a registry should use for that: schemas are
// equivalent when they are equal after setting aside whitespace, attribute
// order, how names are qualified, and doc strings. Defaults, aliases, field
// order attributes, enum defaults, logical types (with decimal precision and
// scale) and custom properties all count. Doc is set aside, as the Java
// library's schema equality does; a schema re-registered with only its
// documentation edited keeps its id.
//
// Normalize rewrites a schema text in one spelling: compact JSON, full
// names, attributes in a fixed order, custom properties sorted, primitive
// types without attributes as plain strings, "order" only when not
// ascending, decimal scale only when not 0. It keeps doc. Types that the
// references declare stay references by name. Normalizing is idempotent and
// the result is Equivalent to the input.
//
// # Compatibility
//
// Check walks a reader schema against a writer schema following the
// specification's schema resolution rules, and lists every problem with
// its location (see Incompatibility):
//
//   - primitives match themselves and the promotions int to long, float
//     and double; long to float and double; float to double; string to
//     bytes and bytes to string;
//   - records match when their names match; each reader field reads the
//     writer field of its name or of one of its aliases, and needs a
//     default when there is none; writer fields the reader lacks are
//     skipped;
//   - enums match when their names match and the reader has every writer
//     symbol, or a default symbol;
//   - fixed types match when their names and sizes match;
//   - arrays and maps match when their items or values do;
//   - a writer union matches when the reader reads each of its branches; a
//     reader union matches a writer type when any branch reads it, the
//     first such branch being the one used, as in the Java library;
//   - named types match by unqualified name, as the specification and the
//     Java library have it (so moving a record to another namespace is
//     compatible), or when a reader alias is the writer's full name;
//   - references are ordinary named types once parsed; recursive types are
//     walked once per (reader, writer) pair of records, which both stops the
//     recursion and keeps a type used many times from being walked many
//     times.
//
// Logical types are resolved through their underlying type, as the
// specification requires and the Java library does: long and
// timestamp-millis are compatible either way, as are bytes and a decimal
// over bytes, or a string and a uuid. One exception: two decimals whose
// scales differ do not match (DecimalScaleMismatch), because the same bytes
// would then mean another number; the specification makes decimals match
// only when their scale and precision do. Precision is not compared, since
// every value still decodes. The Confluent registry checks neither, so
// Check is stricter there. A change between timestamp-millis and
// timestamp-micros is not reported.
//
// For performance, Check never parses, formats messages only for problems
// it reports, and indexes the fields of large records; it keeps nothing
// between calls, so no verdict can leak from one check into another (the
// pitfall of hamba/avro's SchemaCompatibility, which caches verdicts by
// canonical form and so confuses schemas that differ only in defaults).
package avrocompat
