package serde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 7, 2, 4})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, payload, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrNotFramed) {
				t.Fatalf("error %v does not match ErrNotFramed", err)
			}
			if len(b) >= HeaderSize && b[0] == MagicByte {
				t.Fatalf("refused a framed payload: %v", err)
			}
			return
		}
		if !bytes.Equal(append(Header(id), payload...), b) {
			t.Fatalf("Header(%d)+payload does not give back the input", id)
		}
	})
}

// fuzzSchemas cover every type, recursion, zero-size items and the unions
// whose JSON rendering differs.
var fuzzSchemas = []string{
	orderV1,
	orderV2,
	everything,
	`{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`,
	`{"type":"array","items":"null"}`,
	`{"type":"array","items":{"type":"record","name":"Empty","fields":[]}}`,
	`{"type":"map","values":["null","long",{"type":"array","items":"string"}]}`,
	`{"type":"record","name":"Tree","fields":[{"name":"kids","type":{"type":"array","items":"Tree"}},{"name":"tag","type":["null",{"type":"enum","name":"Tag","symbols":["A","B"]}]}]}`,
}

// FuzzDecode feeds arbitrary bytes, framed with the id of one of
// fuzzSchemas, to every decoding entry point. None may panic or hang; all
// must agree on whether the payload is valid; a valid payload must decode
// with hamba/avro, and its JSON rendering must encode and render back to the
// same JSON.
func FuzzDecode(f *testing.F) {
	env := newFuzzEnv(f)
	seed := func(i int, payload []byte) { f.Add(append([]byte{byte(i)}, payload...)) }
	seed(0, []byte{6, 'o', '-', '1', 2, 3, 2, 'a', 2, 0})
	seed(3, []byte{2, 2, 4, 0}) // Node 1 -> Node 2
	seed(4, []byte{0x06, 0x00})
	seed(5, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	seed(6, []byte{0x01, 0x06, 2, 'k', 0, 0})
	seed(7, []byte{2, 0, 0, 0, 2, 2})
	b, err := env.sd.EncodeJSON(context.Background(), "fuzzc", everything, []byte(everythingIn))
	if err != nil {
		f.Fatal(err)
	}
	seed(2, b[HeaderSize:])
	f.Fuzz(env.check)
}

type fuzzEnv struct {
	sd  *Serde
	ids []int
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	reg := newFakeRegistry(tb)
	env := &fuzzEnv{}
	for i, s := range fuzzSchemas {
		id, _ := reg.register("fuzz"+string(rune('a'+i))+"-value", s)
		env.ids = append(env.ids, id)
	}
	env.sd = newSerde(tb, reg)
	return env
}

// check runs one input: data[0] picks the schema, the rest is the payload.
func (env *fuzzEnv) check(t *testing.T, data []byte) {
	ctx := context.Background()
	sd, ids := env.sd, env.ids
	// As given: mostly not framed, or framed with an id the registry
	// does not know (asked once, then remembered).
	if id, _, err := ParseHeader(data); err != nil || id <= len(ids)+1 {
		if _, err := sd.Validate(ctx, data); err == nil && id > len(ids) {
			t.Fatal("unknown id validated")
		}
		_, _, _ = sd.DecodeAny(ctx, data)
	}
	if len(data) == 0 {
		return
	}
	id := ids[int(data[0])%len(ids)]
	framed := append(Header(id), data[1:]...)

	_, verr := sd.Validate(ctx, framed)
	doc, _, jerr := sd.DecodeJSON(ctx, framed)
	_, _, aerr := sd.DecodeAny(ctx, framed)
	var typed orderV2T
	terr := sd.Decode(ctx, framed, &typed)
	if (verr == nil) != (jerr == nil) || (verr == nil) != (aerr == nil) {
		t.Fatalf("entry points disagree: Validate %v, DecodeJSON %v, DecodeAny %v", verr, jerr, aerr)
	}
	if verr != nil {
		for _, err := range []error{verr, jerr, aerr, terr} {
			if !errors.Is(err, ErrPayloadMismatch) {
				t.Fatalf("invalid payload gave %v, want ErrPayloadMismatch", err)
			}
		}
		return
	}

	sch, err := sd.SchemaByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	again, err := sch.EncodeJSON(doc)
	if err != nil {
		t.Fatalf("rendering %s does not encode back: %v", doc, err)
	}
	doc2, _, err := sd.DecodeJSON(ctx, again)
	if err != nil {
		t.Fatalf("re-encoded payload does not decode: %v", err)
	}
	if !jsonEqual(t, doc, doc2) {
		t.Fatalf("round trip changed the value:\n%s\n%s", doc, doc2)
	}
}

// jsonEqual compares JSON documents by value; objects are unordered (Avro
// maps re-encode in Go's map order) and numbers compare by their text.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	parse := func(doc []byte) any {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("invalid JSON %s: %v", doc, err)
		}
		return v
	}
	return reflect.DeepEqual(parse(a), parse(b))
}
