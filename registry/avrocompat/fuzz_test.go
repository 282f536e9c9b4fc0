package avrocompat

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse: it must never panic, must fail
// only with ErrInvalidSchema, and what it accepts must normalize to an
// equivalent schema, normalize idempotently and be compatible with itself.
func FuzzParse(f *testing.F) {
	for _, c := range ruleCases {
		if len(c.oldRefs) == 0 {
			f.Add(c.old)
			f.Add(c.new)
		}
	}
	for _, s := range []string{
		orderText, orderReordered, money1, money2def, `"int"`, `["null","string"]`, `null`, `{}`, `[]`, `{"type":"record"`,
		`{"type":"fixed","name":"F","size":4,"logicalType":"decimal","precision":6,"scale":2}`,
		`{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"X","size":3},"default":"abc"}]}`,
		`{"type":"record","name":"R","fields":[{"name":"r","type":{"type":"record","name":"S","fields":[{"name":"q","type":"int","default":1}]},"default":{}}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("error %v does not wrap ErrInvalidSchema", err)
			}
			return
		}
		_ = Canonical(s)
		n, err := Normalize(text)
		if err != nil {
			t.Fatalf("parses but does not normalize: %v", err)
		}
		s2, err := Parse(n)
		if err != nil {
			t.Fatalf("normalized text %s does not parse: %v", n, err)
		}
		if !Equivalent(s, s2) {
			t.Fatalf("normalized schema is not equivalent:\n%s\n%s", EquivalenceKey(s), EquivalenceKey(s2))
		}
		if n2, err := Normalize(n); err != nil || n2 != n {
			t.Fatalf("Normalize is not idempotent:\n%s\n%s (%v)", n, n2, err)
		}
		if ins := Check(FullTransitive, s2, []Version{{Version: 1, Schema: s}}); len(ins) != 0 {
			t.Fatalf("schema is not compatible with itself: %+v", ins)
		}
	})
}

// FuzzCheck checks pairs of schemas both ways and compares each verdict
// with hamba/avro's, which implements the same resolution rules except for
// decimal scales.
func FuzzCheck(f *testing.F) {
	for _, c := range ruleCases {
		if len(c.oldRefs) == 0 && len(c.newRefs) == 0 {
			f.Add(c.old, c.new)
		}
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		old, err := Parse(a)
		if err != nil {
			return
		}
		cand, err := Parse(b)
		if err != nil {
			return
		}
		ins := Check(Full, cand, []Version{{Version: 1, Schema: old}})
		var back, fwd bool // found incompatible, ignoring decimal scales
		for _, in := range ins {
			if in.Message == "" || in.Path == "" || in.Version != 1 {
				t.Fatalf("malformed incompatibility %+v", in)
			}
			if in.Type == DecimalScaleMismatch {
				return // hamba/avro does not check it; the verdicts may differ
			}
			if strings.HasPrefix(in.Message, "The new schema") {
				back = true
			} else {
				fwd = true
			}
		}
		if back == hambaVerdict(cand, old) {
			t.Errorf("backward: incompatible=%v, hamba/avro disagrees: %+v", back, ins)
		}
		if fwd == hambaVerdict(old, cand) {
			t.Errorf("forward: incompatible=%v, hamba/avro disagrees: %+v", fwd, ins)
		}
	})
}
