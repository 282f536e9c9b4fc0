package serde

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/hamba/avro/v2"
)

// hamba/avro (v2.31.0) builds a "skip decoder" for every record field that the
// Go struct receiving it lacks, and builds it eagerly through records, arrays,
// maps and named-type references (only unions are built lazily). For a
// field whose type reaches itself without passing through a union, such as
// {"name":"kids","type":{"type":"array","items":"Tree"}}, that construction
// never ends: the goroutine's stack overflows and the process dies, which no
// recover can stop. Since a payload chooses its schema id, one crafted record
// could kill any consumer decoding into a struct. Decode checks for the
// hazard first, once per schema id and Go type, and refuses instead.

// skipHazard returns the path of a field of s that decoding into t would
// have to skip and whose type is recursive without a union, or "". It
// matches struct fields to record fields as hamba/avro does, by the "avro"
// struct tag, else the Go field name, and the record field's aliases,
// looking into embedded structs.
func skipHazard(s avro.Schema, t reflect.Type) string {
	return hazardWalk(s, t, "", make(map[hazardPair]bool))
}

type hazardPair struct {
	schema avro.Schema
	typ    reflect.Type
}

func hazardWalk(s avro.Schema, t reflect.Type, path string, seen map[hazardPair]bool) string {
	s = deref(s)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	p := hazardPair{s, t}
	if seen[p] {
		return ""
	}
	seen[p] = true
	switch s := s.(type) {
	case *avro.RecordSchema:
		if t.Kind() != reflect.Struct {
			return "" // maps and interfaces decode records without skipping
		}
		fields := structFieldTypes(t)
		for _, f := range s.Fields() {
			ft, ok := fields[f.Name()]
			for _, alias := range f.Aliases() {
				if !ok {
					ft, ok = fields[alias]
				}
			}
			if !ok {
				if eagerCycle(f.Type(), make(map[avro.Schema]int8)) {
					return path + "." + f.Name()
				}
				continue
			}
			if h := hazardWalk(f.Type(), ft, path+"."+f.Name(), seen); h != "" {
				return h
			}
		}
	case *avro.ArraySchema:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			return hazardWalk(s.Items(), t.Elem(), path+"[]", seen)
		}
	case *avro.MapSchema:
		if t.Kind() == reflect.Map {
			return hazardWalk(s.Values(), t.Elem(), path+"[]", seen)
		}
	case *avro.UnionSchema:
		for _, branch := range s.Types() {
			if h := hazardWalk(branch, t, path, seen); h != "" {
				return h
			}
		}
	}
	return ""
}

// structFieldTypes maps the names hamba/avro matches record fields by to the
// struct's field types, looking into embedded structs (outer fields win).
func structFieldTypes(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	visited := make(map[reflect.Type]bool)
	level := []reflect.Type{t}
	for len(level) > 0 {
		var next []reflect.Type
		for _, st := range level {
			if visited[st] {
				continue
			}
			visited[st] = true
			for i := range st.NumField() {
				f := st.Field(i)
				if f.Anonymous {
					ft := f.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if ft.Kind() == reflect.Struct {
						next = append(next, ft)
					}
					continue
				}
				if !f.IsExported() {
					continue
				}
				name := f.Name
				if tag, ok := f.Tag.Lookup("avro"); ok {
					name, _, _ = strings.Cut(tag, ",")
				}
				if _, taken := out[name]; !taken {
					out[name] = f.Type
				}
			}
		}
		level = next
	}
	return out
}

// eagerCycle reports whether building a skip decoder for s would recurse
// forever: whether s reaches a named type on the current path through
// records, arrays, maps and references, not through a union.
func eagerCycle(s avro.Schema, state map[avro.Schema]int8) bool {
	s = deref(s)
	switch state[s] {
	case 1:
		return true
	case 2:
		return false
	}
	state[s] = 1
	defer func() { state[s] = 2 }()
	switch s := s.(type) {
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			if eagerCycle(f.Type(), state) {
				return true
			}
		}
	case *avro.ArraySchema:
		return eagerCycle(s.Items(), state)
	case *avro.MapSchema:
		return eagerCycle(s.Values(), state)
	}
	return false
}

// checkTarget returns an error matching ErrUnsafeTarget if decoding sch
// into v's type would hit the skip hazard. Verdicts are cached by schema id
// and type.
func (s *Serde) checkTarget(sch *Schema, v any) error {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil
	}
	k := targetKey{id: sch.ID, typ: t}
	hazard, ok := s.targets.get(k)
	if !ok {
		hazard = skipHazard(sch.Avro, t)
		s.targets.put(k, hazard)
	}
	if hazard != "" {
		return fmt.Errorf("serde: schema id %d into %s: %w: the type has no field for %s, whose type contains itself "+
			"(not through a union), and hamba/avro cannot skip such a field; add the field, or use DecodeAny",
			sch.ID, t, ErrUnsafeTarget, hazard)
	}
	return nil
}

type targetKey struct {
	id  int
	typ reflect.Type
}
