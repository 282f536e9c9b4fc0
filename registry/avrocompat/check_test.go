package avrocompat

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	fa         = `{"name":"a","type":"int"}`
	money1     = `{"type":"record","name":"Money","namespace":"fin","fields":[{"name":"amount","type":"long"}]}`
	money2     = `{"type":"record","name":"Money","namespace":"fin","fields":[{"name":"amount","type":"long"},{"name":"currency","type":"string"}]}`
	money2def  = `{"type":"record","name":"Money","namespace":"fin","fields":[{"name":"amount","type":"long"},{"name":"currency","type":"string","default":"EUR"}]}`
	listOf     = `{"type":"record","name":"LinkedList","namespace":"ds","fields":[{"name":"value","type":"%s"}%s,{"name":"next","type":["null","LinkedList"],"default":null}]}`
	statusEnum = `{"name":"s","type":{"type":"enum","name":"Status","symbols":%s%s}}`
)

func enumField(symbols, extra string) string { return fmt.Sprintf(statusEnum, symbols, extra) }

func list(valueType, extraField string) string {
	if extraField != "" {
		extraField = "," + extraField
	}
	return fmt.Sprintf(listOf, valueType, extraField)
}

// ruleCase is an old and a new schema, and whether the new schema reads old
// data (backward) and old schemas read new data (forward), with the
// incompatibility types expected when not.
type ruleCase struct {
	name               string
	old, new           string
	oldRefs, newRefs   []string
	backward, forward  []string // expected types; nil when compatible
	notHamba           bool     // hamba/avro does not check this rule
	wantPath, wantText string   // optional: a path and message text some incompatibility has
}

var ruleCases = []ruleCase{
	{name: "add field with default", old: record(fa), new: record(fa, `{"name":"b","type":"int","default":0}`)},
	{name: "add field without default", old: record(fa), new: record(fa, `{"name":"b","type":"int"}`),
		backward: []string{ReaderFieldMissingDefaultValue}, wantPath: "/fields/1", wantText: `give "b" a default`},
	{name: "remove field with default", old: record(fa, `{"name":"b","type":"int","default":0}`), new: record(fa)},
	{name: "remove field without default", old: record(fa, `{"name":"b","type":"int"}`), new: record(fa),
		forward: []string{ReaderFieldMissingDefaultValue}, wantText: `keep "b" in the new schema`},
	{name: "rename field with alias", old: record(fa, `{"name":"b","type":"int"}`), new: record(fa, `{"name":"c","type":"int","aliases":["b"]}`),
		forward: []string{ReaderFieldMissingDefaultValue}},
	{name: "rename field with alias and defaults", old: record(fa, `{"name":"b","type":"int","default":1}`), new: record(fa, `{"name":"c","type":"int","aliases":["b"],"default":1}`)},
	{name: "rename field without alias", old: record(fa, `{"name":"b","type":"int"}`), new: record(fa, `{"name":"c","type":"int"}`),
		backward: []string{ReaderFieldMissingDefaultValue}, forward: []string{ReaderFieldMissingDefaultValue}},
	{name: "int to long", old: record(fa), new: record(`{"name":"a","type":"long"}`),
		forward: []string{TypeMismatch}, wantPath: "/fields/0/type", wantText: "keep it int"},
	{name: "long to int", old: record(`{"name":"a","type":"long"}`), new: record(fa), backward: []string{TypeMismatch}},
	{name: "int to double", old: record(fa), new: record(`{"name":"a","type":"double"}`), forward: []string{TypeMismatch}},
	{name: "float to double", old: record(`{"name":"a","type":"float"}`), new: record(`{"name":"a","type":"double"}`), forward: []string{TypeMismatch}},
	{name: "string to bytes", old: record(`{"name":"a","type":"string"}`), new: record(`{"name":"a","type":"bytes"}`)},
	{name: "bytes to string", old: record(`{"name":"a","type":"bytes"}`), new: record(`{"name":"a","type":"string"}`)},
	{name: "int to string", old: record(fa), new: record(`{"name":"a","type":"string"}`),
		backward: []string{TypeMismatch}, forward: []string{TypeMismatch}},
	{name: "enum add symbol", old: record(enumField(`["A","B"]`, "")), new: record(enumField(`["A","B","C"]`, "")),
		forward: []string{MissingEnumSymbols}, wantPath: "/fields/0/type/symbols", wantText: "[C]"},
	{name: "enum remove symbol", old: record(enumField(`["A","B"]`, "")), new: record(enumField(`["A"]`, "")),
		backward: []string{MissingEnumSymbols}, wantText: "[B]"},
	{name: "enum add symbol, old has default", old: record(enumField(`["A","B"]`, `,"default":"A"`)), new: record(enumField(`["A","B","C"]`, `,"default":"A"`))},
	{name: "enum remove symbol, new has default", old: record(enumField(`["A","B"]`, "")), new: record(enumField(`["A"]`, `,"default":"A"`))},
	{name: "enum renamed", old: record(enumField(`["A"]`, "")), new: record(`{"name":"s","type":{"type":"enum","name":"State","symbols":["A"]}}`),
		backward: []string{NameMismatch}, forward: []string{NameMismatch}},
	{name: "union add branch",
		old: record(`{"name":"u","type":["null","string"],"default":null}`), new: record(`{"name":"u","type":["null","string","int"],"default":null}`),
		forward: []string{MissingUnionBranch}, wantText: "int"},
	{name: "union remove branch",
		old: record(`{"name":"u","type":["null","string","int"],"default":null}`), new: record(`{"name":"u","type":["null","string"],"default":null}`),
		backward: []string{MissingUnionBranch}, wantText: "add int back to the union"},
	{name: "union branch promoted", old: record(`{"name":"u","type":["null","int"]}`), new: record(`{"name":"u","type":["null","long"]}`),
		forward: []string{MissingUnionBranch}},
	{name: "nullable field added with null default", old: record(fa), new: record(fa, `{"name":"b","type":["null","string"],"default":null}`)},
	{name: "nullable field added without default", old: record(fa), new: record(fa, `{"name":"b","type":["null","string"]}`),
		backward: []string{ReaderFieldMissingDefaultValue}},
	{name: "field made nullable", old: record(`{"name":"a","type":"string"}`), new: record(`{"name":"a","type":["null","string"],"default":null}`),
		forward: []string{MissingUnionBranch}, wantText: "null"},
	{name: "field made non-nullable", old: record(`{"name":"a","type":["null","string"],"default":null}`), new: record(`{"name":"a","type":"string"}`),
		backward: []string{MissingUnionBranch}, wantText: "make it a union that includes null"},
	{name: "union to unrelated type", old: record(`{"name":"a","type":["null","string"]}`), new: record(`{"name":"a","type":"int"}`),
		backward: []string{MissingUnionBranch, MissingUnionBranch}, forward: []string{MissingUnionBranch}},
	{name: "fixed size change",
		old: record(`{"name":"h","type":{"type":"fixed","name":"Hash","size":16}}`), new: record(`{"name":"h","type":{"type":"fixed","name":"Hash","size":32}}`),
		backward: []string{FixedSizeMismatch}, forward: []string{FixedSizeMismatch}, wantPath: "/fields/0/type/size", wantText: "keep size 16"},
	{name: "fixed renamed",
		old: record(`{"name":"h","type":{"type":"fixed","name":"Hash","size":16}}`), new: record(`{"name":"h","type":{"type":"fixed","name":"Digest","size":16}}`),
		backward: []string{NameMismatch}, forward: []string{NameMismatch}},
	{name: "fixed renamed with alias",
		old: record(`{"name":"h","type":{"type":"fixed","name":"Hash","size":16}}`), new: record(`{"name":"h","type":{"type":"fixed","name":"Digest","aliases":["Hash"],"size":16}}`),
		forward: []string{NameMismatch}},
	{name: "nested record field added without default",
		old:      record(fa, `{"name":"addr","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"}]}}`),
		new:      record(fa, `{"name":"addr","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"},{"name":"zip","type":"string"}]}}`),
		backward: []string{ReaderFieldMissingDefaultValue}, wantPath: "/fields/1/type/fields/1", wantText: `field "zip" of record shop.Address`},
	{name: "nested record field added with default",
		old: record(fa, `{"name":"addr","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"}]}}`),
		new: record(fa, `{"name":"addr","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"},{"name":"zip","type":"string","default":""}]}}`)},
	{name: "nested record field type changed",
		old:     record(fa, `{"name":"addr","type":{"type":"record","name":"Address","fields":[{"name":"n","type":"int"}]}}`),
		new:     record(fa, `{"name":"addr","type":{"type":"record","name":"Address","fields":[{"name":"n","type":"long"}]}}`),
		forward: []string{TypeMismatch}, wantPath: "/fields/1/type/fields/0/type"},
	{name: "nested record renamed",
		old:      record(`{"name":"addr","type":{"type":"record","name":"Address","fields":[]}}`),
		new:      record(`{"name":"addr","type":{"type":"record","name":"Location","fields":[]}}`),
		backward: []string{NameMismatch}, forward: []string{NameMismatch}, wantText: `add "shop.Address" to the aliases of shop.Location`},
	{name: "nested record renamed with alias",
		old:     record(`{"name":"addr","type":{"type":"record","name":"Address","fields":[]}}`),
		new:     record(`{"name":"addr","type":{"type":"record","name":"Location","aliases":["Address"],"fields":[]}}`),
		forward: []string{NameMismatch}},
	{name: "record moved to another namespace",
		old: record(fa), new: strings.Replace(record(fa), `"shop"`, `"store"`, 1)},
	{name: "array items int to long", old: record(`{"name":"l","type":{"type":"array","items":"int"}}`), new: record(`{"name":"l","type":{"type":"array","items":"long"}}`),
		forward: []string{TypeMismatch}, wantPath: "/fields/0/type/items"},
	{name: "array items to string", old: record(`{"name":"l","type":{"type":"array","items":"int"}}`), new: record(`{"name":"l","type":{"type":"array","items":"string"}}`),
		backward: []string{TypeMismatch}, forward: []string{TypeMismatch}},
	{name: "map values string to int", old: record(`{"name":"m","type":{"type":"map","values":"string"}}`), new: record(`{"name":"m","type":{"type":"map","values":"int"}}`),
		backward: []string{TypeMismatch}, forward: []string{TypeMismatch}, wantPath: "/fields/0/type/values"},
	{name: "map values int to long", old: record(`{"name":"m","type":{"type":"map","values":"int"}}`), new: record(`{"name":"m","type":{"type":"map","values":"long"}}`),
		forward: []string{TypeMismatch}},
	{name: "array to map", old: record(`{"name":"m","type":{"type":"array","items":"int"}}`), new: record(`{"name":"m","type":{"type":"map","values":"int"}}`),
		backward: []string{TypeMismatch}, forward: []string{TypeMismatch}},
	{name: "array of records item field added",
		old:      record(`{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"}]}}}`),
		new:      record(`{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}}`),
		backward: []string{ReaderFieldMissingDefaultValue}, wantPath: "/fields/0/type/items/fields/1"},
	{name: "long to timestamp-millis", old: record(`{"name":"t","type":"long"}`), new: record(`{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}`)},
	{name: "timestamp-millis to long", old: record(`{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}`), new: record(`{"name":"t","type":"long"}`)},
	{name: "timestamp-millis to string", old: record(`{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}`), new: record(`{"name":"t","type":"string"}`),
		backward: []string{TypeMismatch}, forward: []string{TypeMismatch}, wantText: "long (timestamp-millis)"},
	{name: "int to date", old: record(fa), new: record(`{"name":"a","type":{"type":"int","logicalType":"date"}}`)},
	{name: "bytes to decimal", old: record(`{"name":"d","type":"bytes"}`), new: record(`{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}`)},
	{name: "decimal precision widened",
		old: record(`{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}`),
		new: record(`{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}}`)},
	{name: "decimal scale changed",
		old:      record(`{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}`),
		new:      record(`{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":3}}`),
		backward: []string{DecimalScaleMismatch}, forward: []string{DecimalScaleMismatch}, notHamba: true, wantText: "keep scale 2"},
	{name: "fixed decimal scale changed",
		old:      record(`{"name":"d","type":{"type":"fixed","name":"Dec","size":8,"logicalType":"decimal","precision":9,"scale":2}}`),
		new:      record(`{"name":"d","type":{"type":"fixed","name":"Dec","size":8,"logicalType":"decimal","precision":9,"scale":0}}`),
		backward: []string{DecimalScaleMismatch}, forward: []string{DecimalScaleMismatch}, notHamba: true},
	{name: "reference unchanged",
		old: record(`{"name":"total","type":"fin.Money"}`), oldRefs: []string{money1},
		new: record(`{"name":"total","type":"fin.Money"}`), newRefs: []string{money1}},
	{name: "reference gains field without default",
		old: record(`{"name":"total","type":"fin.Money"}`), oldRefs: []string{money1},
		new: record(`{"name":"total","type":"fin.Money"}`), newRefs: []string{money2},
		backward: []string{ReaderFieldMissingDefaultValue}, wantText: `field "currency" of record fin.Money`},
	{name: "reference gains field with default",
		old: record(`{"name":"total","type":"fin.Money"}`), oldRefs: []string{money1},
		new: record(`{"name":"total","type":"fin.Money"}`), newRefs: []string{money2def}},
	{name: "reference inlined",
		old: record(`{"name":"total","type":"fin.Money"}`), oldRefs: []string{money1},
		new: record(`{"name":"total","type":` + money1 + `}`)},
	{name: "recursive list unchanged", old: list("int", ""), new: list("int", "")},
	{name: "recursive list field added with default", old: list("int", ""), new: list("int", `{"name":"label","type":"string","default":""}`)},
	{name: "recursive list field added without default", old: list("int", ""), new: list("int", `{"name":"label","type":"string"}`),
		backward: []string{ReaderFieldMissingDefaultValue}},
	{name: "recursive list value widened", old: list("int", ""), new: list("long", ""), forward: []string{TypeMismatch}},
	{name: "top-level primitive promoted", old: `"int"`, new: `"long"`, forward: []string{TypeMismatch}, wantPath: "/"},
	{name: "top-level union gains branch", old: `["null","int"]`, new: `["null","int","string"]`, forward: []string{MissingUnionBranch}},
	{name: "top-level record renamed", old: record(fa), new: strings.Replace(record(fa), `"Order"`, `"Purchase"`, 1),
		backward: []string{NameMismatch}, forward: []string{NameMismatch}, wantPath: "/name"},
	{name: "top-level record renamed with alias", old: record(fa),
		new: strings.Replace(record(fa), `"Order"`, `"Purchase","aliases":["Order"]`, 1), forward: []string{NameMismatch}},
}

func expected(level Level, c ruleCase) []string {
	var want []string
	if level.backward() {
		want = append(want, c.backward...)
	}
	if level.forward() {
		want = append(want, c.forward...)
	}
	return want
}

// TestRules checks each rule under each of the seven levels, and checks the
// verdicts against hamba/avro's own checker.
func TestRules(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.name, func(t *testing.T) {
			old := mustParse(t, c.old, c.oldRefs...)
			cand := mustParse(t, c.new, c.newRefs...)
			for _, level := range Levels {
				got := Check(level, cand, []Version{{Version: 1, Schema: old}})
				if want := expected(level, c); !slices.Equal(types(got), want) {
					t.Errorf("%s: got %v, want %v\n%v", level, types(got), want, got)
				}
				for _, in := range got {
					if in.Version != 1 || in.Message == "" || !strings.Contains(in.Message, "version 1") && !strings.Contains(in.Message, "Version 1") {
						t.Errorf("%s: incompatibility does not name version 1: %+v", level, in)
					}
					if in.Field != "" && !strings.Contains(in.Message, `"`+in.Field+`"`) {
						t.Errorf("%s: message does not name field %q: %s", level, in.Field, in.Message)
					}
				}
			}
			all := Check(Full, cand, []Version{{Version: 1, Schema: old}})
			if c.wantPath != "" && !slices.ContainsFunc(all, func(in Incompatibility) bool { return in.Path == c.wantPath }) {
				t.Errorf("no incompatibility at %s: %+v", c.wantPath, all)
			}
			if c.wantText != "" && !slices.ContainsFunc(all, func(in Incompatibility) bool { return strings.Contains(in.Message, c.wantText) }) {
				t.Errorf("no message contains %q: %+v", c.wantText, all)
			}
			if !c.notHamba {
				if got, want := len(c.backward) == 0, hambaVerdict(cand, old); got != want {
					t.Errorf("backward verdict %v, hamba/avro says %v", got, want)
				}
				if got, want := len(c.forward) == 0, hambaVerdict(old, cand); got != want {
					t.Errorf("forward verdict %v, hamba/avro says %v", got, want)
				}
			}
		})
	}
}

// TestDefaultsAndAliasesOnly runs checks whose schemas differ only by
// defaults or aliases, so have the same canonical form, one after another:
// no verdict may carry over from one to the next.
func TestDefaultsAndAliasesOnly(t *testing.T) {
	writer := mustParse(t, record(fa))
	withDefault := mustParse(t, record(fa, `{"name":"b","type":"int","default":0}`))
	noDefault := mustParse(t, record(fa, `{"name":"b","type":"int"}`))
	if Canonical(withDefault) != Canonical(noDefault) {
		t.Fatal("test schemas should share a canonical form")
	}
	for range 3 {
		if got := Check(Backward, withDefault, []Version{{1, writer}}); len(got) != 0 {
			t.Fatalf("with default: %v", got)
		}
		if got := Check(Backward, noDefault, []Version{{1, writer}}); len(got) != 1 {
			t.Fatalf("without default: %v", got)
		}
	}

	oldB := mustParse(t, record(fa, `{"name":"b","type":"int"}`))
	aliased := mustParse(t, record(fa, `{"name":"c","type":"int","aliases":["b"]}`))
	plain := mustParse(t, record(fa, `{"name":"c","type":"int"}`))
	if Canonical(aliased) != Canonical(plain) {
		t.Fatal("test schemas should share a canonical form")
	}
	for range 3 {
		if got := Check(Backward, aliased, []Version{{1, oldB}}); len(got) != 0 {
			t.Fatalf("with alias: %v", got)
		}
		if got := Check(Backward, plain, []Version{{1, oldB}}); len(got) != 1 {
			t.Fatalf("without alias: %v", got)
		}
	}

	// Enum defaults are dropped from the canonical form too.
	oldEnum := mustParse(t, record(enumField(`["A","B"]`, "")))
	enumDef := mustParse(t, record(enumField(`["A"]`, `,"default":"A"`)))
	enumNoDef := mustParse(t, record(enumField(`["A"]`, "")))
	for range 3 {
		if got := Check(Backward, enumDef, []Version{{1, oldEnum}}); len(got) != 0 {
			t.Fatalf("enum with default: %v", got)
		}
		if got := Check(Backward, enumNoDef, []Version{{1, oldEnum}}); len(got) != 1 {
			t.Fatalf("enum without default: %v", got)
		}
	}
}

func TestTransitive(t *testing.T) {
	v1 := mustParse(t, record(fa))
	v2 := mustParse(t, record(fa, `{"name":"b","type":"int","default":0}`))
	v3 := mustParse(t, record(fa, `{"name":"b","type":"int"}`, `{"name":"c","type":"string","default":""}`))
	existing := []Version{{1, v1}, {2, v2}}

	if got := Check(Backward, v3, existing); len(got) != 0 {
		t.Errorf("BACKWARD: %v", got)
	}
	got := Check(BackwardTransitive, v3, existing)
	if len(got) != 1 || got[0].Version != 1 || got[0].Field != "b" || got[0].Type != ReaderFieldMissingDefaultValue {
		t.Fatalf("BACKWARD_TRANSITIVE: %+v", got)
	}
	for _, want := range []string{`"b"`, "version 1"} {
		if !strings.Contains(got[0].Message, want) {
			t.Errorf("message %q lacks %s", got[0].Message, want)
		}
	}

	// The same the other way: dropping a field that only the oldest
	// version needs.
	f1 := mustParse(t, record(fa, `{"name":"b","type":"int"}`))
	f2 := mustParse(t, record(fa, `{"name":"b","type":"int","default":0}`))
	f3 := mustParse(t, record(fa))
	if got := Check(Forward, f3, []Version{{1, f1}, {2, f2}}); len(got) != 0 {
		t.Errorf("FORWARD: %v", got)
	}
	got = Check(ForwardTransitive, f3, []Version{{1, f1}, {2, f2}})
	if len(got) != 1 || got[0].Version != 1 || !strings.Contains(got[0].Message, "Version 1 cannot read") {
		t.Errorf("FORWARD_TRANSITIVE: %+v", got)
	}
	if got := Check(FullTransitive, f3, []Version{{1, f1}, {2, f2}}); len(got) != 1 {
		t.Errorf("FULL_TRANSITIVE: %+v", got)
	}
	if got := Check(Full, f3, []Version{{1, f1}, {2, f2}}); len(got) != 0 {
		t.Errorf("FULL: %+v", got)
	}
}

// TestEveryIncompatibility checks that Check lists all problems, newest
// version first.
func TestEveryIncompatibility(t *testing.T) {
	v1 := mustParse(t, record(fa, `{"name":"str","type":"string"}`, enumField(`["A","B"]`, "")))
	v2 := mustParse(t, record(fa, `{"name":"str","type":"string"}`, enumField(`["A","B"]`, ""), `{"name":"x","type":"int","default":0}`))
	cand := mustParse(t, record(`{"name":"a","type":"string"}`, enumField(`["A"]`, ""), `{"name":"n","type":"int"}`))
	got := Check(BackwardTransitive, cand, []Version{{1, v1}, {2, v2}})
	want := []struct {
		version int
		typ     string
		field   string
	}{
		{2, TypeMismatch, "a"}, {2, MissingEnumSymbols, "s"}, {2, ReaderFieldMissingDefaultValue, "n"},
		{1, TypeMismatch, "a"}, {1, MissingEnumSymbols, "s"}, {1, ReaderFieldMissingDefaultValue, "n"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d incompatibilities, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Version != w.version || got[i].Type != w.typ || got[i].Field != w.field {
			t.Errorf("#%d: got %+v, want %+v", i, got[i], w)
		}
	}
}

func TestCheckEdges(t *testing.T) {
	s := mustParse(t, record(fa))
	if got := Check(Full, s, nil); got != nil {
		t.Errorf("no versions: %v", got)
	}
	if got := Check(None, mustParse(t, `"string"`), []Version{{1, s}}); got != nil {
		t.Errorf("NONE: %v", got)
	}
	if got := Check(Level("bogus"), mustParse(t, `"string"`), []Version{{1, s}}); got != nil {
		t.Errorf("unknown level: %v", got)
	}
	if got := Check(FullTransitive, s, []Version{{1, s}, {2, nil}}); got != nil {
		t.Errorf("self and nil: %v", got)
	}
}

// TestRecursionAcrossUnions checks mutually recursive types reached through
// union branches, where branches are first tried and then explained.
func TestRecursionAcrossUnions(t *testing.T) {
	tree := func(extra string) string {
		return `{"type":"record","name":"Node","fields":[{"name":"kids","type":{"type":"array","items":"Node"}},` +
			`{"name":"leaf","type":["null",{"type":"record","name":"Leaf","fields":[{"name":"parent","type":["null","Node"]}` + extra + `]}]}]}`
	}
	old := mustParse(t, tree(""))
	cand := mustParse(t, tree(`,{"name":"w","type":"int"}`))
	got := Check(Full, cand, []Version{{1, old}})
	if !slices.Equal(types(got), []string{ReaderFieldMissingDefaultValue}) || got[0].Path != "/fields/1/type/1/fields/1" {
		t.Fatalf("got %+v", got)
	}
	if hambaVerdict(cand, old) {
		t.Error("hamba/avro disagrees")
	}
	if got := Check(Full, mustParse(t, tree("")), []Version{{1, old}}); len(got) != 0 {
		t.Errorf("same tree: %v", got)
	}
}

// TestSharedTypeWalkedOnce uses a type many times over many levels: without
// the memo the walk would take 2^depth steps.
func TestSharedTypeWalkedOnce(t *testing.T) {
	const depth = 40
	schema := nested(depth)
	a, bb := mustParse(t, schema), mustParse(t, schema)
	if got := Check(FullTransitive, a, []Version{{1, bb}}); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

// nested returns T<depth>, whose fields x and y both have type T<depth-1>.
func nested(depth int) string {
	s := `{"type":"record","name":"T0","fields":[{"name":"v","type":"int"}]}`
	for i := 1; i <= depth; i++ {
		s = fmt.Sprintf(`{"type":"record","name":"T%d","fields":[{"name":"x","type":%s},{"name":"y","type":"T%d"}]}`, i, s, i-1)
	}
	return s
}
