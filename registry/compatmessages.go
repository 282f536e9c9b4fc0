package registry

import (
	"fmt"
	"slices"

	"github.com/meshwork/meshwork/registry/avrocompat"
)

// compatibilityMessages writes incompatibilities as Confluent's registry
// lists them (the details of a 409 and the messages of ?verbose=true): it
// stops at the newest version that breaks, as its validator does, and for
// that version writes each incompatibility as Avro Java's checker and
// Confluent's Difference class word it,
//
//	{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'total' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'total'}
//
// (the old schema reading the new first, under FULL), then the version and
// its text, {oldSchemaVersion: 1} and {oldSchema: '…'}, and last the level,
// {validateFields: 'false', compatibility: 'BACKWARD'}. additionalInfo is
// Avro Java's detail (avrocompat's Info); DECIMAL_SCALE_MISMATCH, which
// Confluent does not check, has no description.
func (v *view) compatibilityMessages(subject string, ins []avrocompat.Incompatibility) []string {
	if len(ins) == 0 {
		return nil
	}
	version := ins[0].Version // newest first: the first version that breaks
	var first []avrocompat.Incompatibility
	for _, in := range ins {
		if in.Version == version {
			first = append(first, in)
		}
	}
	// Confluent's mutual read (FULL) reports the old schema reading the
	// new one first.
	slices.SortStableFunc(first, func(a, b avrocompat.Incompatibility) int {
		switch {
		case a.NewReads == b.NewReads:
			return 0
		case !a.NewReads:
			return -1
		}
		return 1
	})
	out := make([]string, 0, len(first)+3)
	for _, in := range first {
		out = append(out, difference(in))
	}
	out = append(out, fmt.Sprintf("{oldSchemaVersion: %d}", version))
	if ve := v.version(subject, version, false, true); ve != nil {
		if e := v.schema(ve.id); e != nil {
			out = append(out, oldSchema(e.schema))
		}
	}
	return append(out, fmt.Sprintf("{validateFields: 'false', compatibility: '%s'}", v.compatibility(subject)))
}

// maxSchemaForMessages is where Confluent truncates an old schema quoted in
// a message.
const maxSchemaForMessages = 2000

func oldSchema(text string) string {
	if len(text) <= maxSchemaForMessages {
		return "{oldSchema: '" + text + "'}"
	}
	return "{oldSchema: <truncated> '" + text[:maxSchemaForMessages] + "...'}"
}

// difference words one incompatibility as Confluent's Difference.error
// does, reader and writer named "new" and "old".
func difference(in avrocompat.Incompatibility) string {
	reader, writer := "old", "new"
	if in.NewReads {
		reader, writer = "new", "old"
	}
	path := in.Path
	if path == "" {
		path = "/"
	}
	info := in.Info
	if info == "" {
		info = in.Message
	}
	var desc string
	switch in.Type {
	case avrocompat.FixedSizeMismatch:
		desc = fmt.Sprintf("The size of FIXED type field at path '%s' in the %s schema does not match with the %s schema", path, reader, writer)
	case avrocompat.TypeMismatch:
		desc = fmt.Sprintf("The type (path '%s') of a field in the %s schema does not match with the %s schema", path, reader, writer)
	case avrocompat.NameMismatch:
		desc = fmt.Sprintf("The name of the schema has changed (path '%s')", path)
	case avrocompat.MissingEnumSymbols:
		desc = fmt.Sprintf("The %s schema is missing enum symbols '%s' at path '%s' in the %s schema", reader, info, path, writer)
	case avrocompat.MissingUnionBranch:
		desc = fmt.Sprintf("The %s schema is missing a type inside a union field at path '%s' in the %s schema", reader, path, writer)
	case avrocompat.ReaderFieldMissingDefaultValue:
		desc = fmt.Sprintf("The field '%s' at path '%s' in the %s schema has no default value and is missing in the %s schema", info, path, reader, writer)
	}
	return "{errorType:'" + in.Type + "', description:'" + desc + "', additionalInfo:'" + info + "'}"
}
