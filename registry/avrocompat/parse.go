package avrocompat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hamba/avro/v2"
)

// Parse parses an Avro schema text. refs are the texts of the schemas it
// references (Confluent "references"), already resolved transitively by the
// caller, dependencies first; a text given twice is used once.
//
// Each call parses with its own avro.SchemaCache holding exactly the types
// that refs declare, never avro.DefaultSchemaCache, so a named type that the
// schema neither declares nor references is an error whatever was parsed
// before in the process.
//
// Errors are *SchemaError values wrapping ErrInvalidSchema, worded for the
// schema's author, such as
//
//	field "total" of record shop.Order: unknown type "Money"; declare it or add a reference
func Parse(schema string, refs ...string) (avro.Schema, error) {
	s, _, err := parseWithRefs(schema, refs)
	return s, err
}

// parseWithRefs parses schema after refs and also returns the full names of
// the named types that refs declare.
func parseWithRefs(schema string, refs []string) (avro.Schema, map[string]bool, error) {
	cache := &avro.SchemaCache{}
	known := map[string]bool{}
	done := make(map[string]bool, len(refs))
	for i, ref := range refs {
		if done[ref] {
			continue
		}
		done[ref] = true
		s, err := parseOne(ref, cache, known)
		if err != nil {
			var se *SchemaError
			if errors.As(err, &se) {
				se.Reference = i + 1
				se.Msg = fmt.Sprintf("reference %d: %s", i+1, se.Msg)
			}
			return nil, nil, err
		}
		declaredNames(s, known)
	}
	s, err := parseOne(schema, cache, known)
	if err != nil {
		return nil, nil, err
	}
	return s, known, nil
}

// parseOne checks one text with the validator, which explains mistakes in
// the author's terms, then lets hamba/avro build the schema with cache,
// which then also holds the types the text declares.
func parseOne(text string, cache *avro.SchemaCache, known map[string]bool) (avro.Schema, error) {
	root, err := decodeJSON(text)
	if err != nil {
		return nil, err
	}
	v := &validator{known: known, declared: map[string]bool{}, all: map[string]bool{}, fallback: map[string]string{}}
	collectDeclared(root, "", v.all)
	if _, err := v.typ(root, "", where{}); err != nil {
		return nil, err
	}
	for alias, target := range v.fallback {
		if s := cache.Get(target); s != nil {
			cache.Add(alias, s)
		}
	}
	if stripFoldedKeys(root) || v.rewritten {
		// the validator lowered the orders in root: hamba/avro reads that
		b, err := json.Marshal(root)
		if err != nil {
			return nil, &SchemaError{Msg: err.Error()}
		}
		text = string(b)
	}
	return parseHamba(text, cache)
}

// attributeNames are the attributes hamba/avro decodes into a struct,
// whose JSON keys Go matches in any case.
var attributeNames = []string{"type", "name", "namespace", "fields", "items", "values", "symbols", "size",
	"default", "doc", "aliases", "order", "logicalType", "precision", "scale"}

// stripFoldedKeys removes, from the schema objects of a decoded text (not
// from defaults or property values), keys that differ from an attribute
// only in case ("Namespace", "nAme"): Java reads them as properties, while
// hamba/avro, decoding with encoding/json, would take them for the
// attribute. It reports whether it removed any.
func stripFoldedKeys(t any) bool {
	changed := false
	switch t := t.(type) {
	case []any:
		for _, b := range t {
			changed = stripFoldedKeys(b) || changed
		}
	case map[string]any:
		changed = dropFolded(t)
		for _, k := range []string{"type", "items", "values"} {
			changed = stripFoldedKeys(t[k]) || changed
		}
		if fields, ok := t["fields"].([]any); ok {
			for _, f := range fields {
				if fm, ok := f.(map[string]any); ok {
					changed = dropFolded(fm) || changed
					changed = stripFoldedKeys(fm["type"]) || changed
				}
			}
		}
	}
	return changed
}

func dropFolded(m map[string]any) bool {
	changed := false
	for k := range m {
		for _, a := range attributeNames {
			if k != a && strings.EqualFold(k, a) {
				delete(m, k)
				changed = true
			}
		}
	}
	return changed
}

// parseHamba calls hamba/avro, turning its errors, and any panic on input
// the validator let through, into a SchemaError.
func parseHamba(text string, cache *avro.SchemaCache) (s avro.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &SchemaError{Msg: fmt.Sprintf("the schema could not be parsed: %v", r)}
		}
	}()
	s, err = avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, &SchemaError{Msg: hambaMessage(err)}
	}
	return s, nil
}

// hambaMessage rewords a hamba/avro parse error.
func hambaMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "avro: ")
	if rest, ok := strings.CutPrefix(msg, "invalid default for field "); ok {
		name, detail, _ := strings.Cut(rest, ". ")
		return fmt.Sprintf("field %q: its default does not match its type (%s)", name, detail)
	}
	return msg
}

// decodeJSON decodes a schema text, keeping numbers exact, and explains
// syntax errors by line and column.
func decodeJSON(text string) (any, error) {
	if strings.TrimSpace(text) == "" {
		return nil, &SchemaError{Msg: "the schema is empty"}
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, &SchemaError{Msg: jsonMessage(text, err)}
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		rest := text[end:]
		line, col := lineCol(text, end+len(rest)-len(strings.TrimLeft(rest, " \t\r\n"))+1)
		return nil, &SchemaError{Msg: fmt.Sprintf("invalid JSON at line %d, column %d: unexpected text after the schema", line, col)}
	}
	if n, ok := hugeNumber(root); ok {
		return nil, &SchemaError{Msg: fmt.Sprintf("number %s is too large for a 64-bit floating point value", n)}
	}
	return root, nil
}

// hugeNumber finds a number in v that does not fit a float64, which
// hamba/avro reads numbers as.
func hugeNumber(v any) (json.Number, bool) {
	switch v := v.(type) {
	case json.Number:
		if _, err := v.Float64(); err != nil {
			return v, true
		}
	case []any:
		for _, e := range v {
			if n, ok := hugeNumber(e); ok {
				return n, true
			}
		}
	case map[string]any:
		for _, e := range v {
			if n, ok := hugeNumber(e); ok {
				return n, true
			}
		}
	}
	return "", false
}

func jsonMessage(text string, err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(text, int(se.Offset))
		return fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, strings.TrimPrefix(se.Error(), "invalid character "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "invalid JSON: the text ends before the schema does (is a closing bracket or quote missing?)"
	}
	return "invalid JSON: " + err.Error()
}

// lineCol turns a byte offset (as json reports it: just past the fault)
// into a 1-based line and column.
func lineCol(text string, off int) (line, col int) {
	off = min(max(off, 1), len(text))
	before := text[:off-1]
	line = strings.Count(before, "\n") + 1
	col = off - strings.LastIndexByte(before, '\n') - 1
	return line, col
}

// declaredNames adds the full names of the named types s declares to names.
func declaredNames(s avro.Schema, names map[string]bool) {
	switch t := s.(type) {
	case *avro.RefSchema:
		if !names[t.Schema().FullName()] {
			declaredNames(t.Schema(), names)
		}
	case *avro.RecordSchema:
		if names[t.FullName()] {
			return
		}
		names[t.FullName()] = true
		for _, f := range t.Fields() {
			declaredNames(f.Type(), names)
		}
	case *avro.EnumSchema:
		names[t.FullName()] = true
	case *avro.FixedSchema:
		names[t.FullName()] = true
	case *avro.ArraySchema:
		declaredNames(t.Items(), names)
	case *avro.MapSchema:
		declaredNames(t.Values(), names)
	case *avro.UnionSchema:
		for _, b := range t.Types() {
			declaredNames(b, names)
		}
	}
}
