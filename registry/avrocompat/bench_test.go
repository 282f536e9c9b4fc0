package avrocompat

import (
	"fmt"
	"strings"
	"testing"
)

// baseFields are the ~10 fields every benchmark version has.
var baseFields = []string{
	`{"name":"id","type":"string"}`,
	`{"name":"n","type":"int"}`,
	`{"name":"amount","type":"double"}`,
	`{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}`,
	`{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}}`,
	`{"name":"tags","type":{"type":"array","items":"string"}}`,
	`{"name":"attrs","type":{"type":"map","values":"string"}}`,
	`{"name":"note","type":["null","string"],"default":null}`,
	`{"name":"addr","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"},{"name":"zip","type":["null","string"],"default":null}]}}`,
	`{"name":"flag","type":"boolean","default":false}`,
}

// versions returns n+1 parsed versions of shop.Order: version k has the
// base fields and optional fields opt0 ... opt<extra(k)>.
func versions(b *testing.B, n int, extra func(k int) int) []Version {
	out := make([]Version, 0, n+1)
	for k := 1; k <= n+1; k++ {
		fields := append([]string{}, baseFields...)
		for j := 0; j <= extra(k); j++ {
			fields = append(fields, fmt.Sprintf(`{"name":"opt%d","type":["null","long"],"default":null}`, j))
		}
		s, err := Parse(record(fields...))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, Version{Version: k, Schema: s})
	}
	return out
}

func benchCheck(b *testing.B, vs []Version) {
	existing, cand := vs[:len(vs)-1], vs[len(vs)-1].Schema
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if ins := Check(FullTransitive, cand, existing); len(ins) != 0 {
			b.Fatal(ins[0].Message)
		}
	}
}

// BenchmarkCheckTransitive1000 checks a candidate under FULL_TRANSITIVE
// against 1000 compatible versions of an 11 to 20 field record that gains
// an optional field every 100 versions.
func BenchmarkCheckTransitive1000(b *testing.B) {
	benchCheck(b, versions(b, 1000, func(k int) int { return k / 100 }))
}

// BenchmarkCheckTransitive1000Growing is the same with a field added in
// every version, so that the last versions have over 1000 fields.
func BenchmarkCheckTransitive1000Growing(b *testing.B) {
	benchCheck(b, versions(b, 1000, func(k int) int { return k }))
}

// BenchmarkHambaCompatible1000 is the FULL_TRANSITIVE check of
// BenchmarkCheckTransitive1000 done with hamba/avro's checker, for
// comparison: a fresh one per pair, since a shared one caches verdicts by
// canonical form, which ignores defaults.
func BenchmarkHambaCompatible1000(b *testing.B) {
	vs := versions(b, 1000, func(k int) int { return k / 100 })
	existing, cand := vs[:len(vs)-1], vs[len(vs)-1].Schema
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, v := range existing {
			if !hambaVerdict(cand, v.Schema) || !hambaVerdict(v.Schema, cand) {
				b.Fatal("incompatible")
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	text := record(baseFields...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEquivalent(b *testing.B) {
	x, y := mustParse(b, record(baseFields...)), mustParse(b, strings.ReplaceAll(record(baseFields...), ",", ", "))
	b.ReportAllocs()
	for b.Loop() {
		if !Equivalent(x, y) {
			b.Fatal("not equivalent")
		}
	}
}
