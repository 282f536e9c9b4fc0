package serde

import (
	"context"
	"errors"
	"testing"
)

const tree = `{"type":"record","name":"Tree","fields":[
  {"name":"label","type":"string"},
  {"name":"kids","type":{"type":"array","items":"Tree"}}]}`

type treeT struct {
	Label string  `avro:"label"`
	Kids  []treeT `avro:"kids"`
}

type labelOnly struct {
	Label string `avro:"label"`
}

type embedsKids struct {
	labelOnly
	Kids []treeT `avro:"kids"`
}

// Without the check, decoding a Tree into labelOnly overflows the stack
// inside hamba/avro and kills the test binary.
func TestRecursiveSchemaSkipHazard(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("tree-value", tree)
	sd := newSerde(t, f)
	in := treeT{Label: "root", Kids: []treeT{{Label: "a"}, {Label: "b", Kids: []treeT{{Label: "c"}}}}}
	b, err := sd.Encode(ctx, "tree", tree, in)
	if err != nil {
		t.Fatal(err)
	}

	var whole treeT
	if err := sd.Decode(ctx, b, &whole); err != nil || whole.Kids[1].Kids[0].Label != "c" {
		t.Fatalf("got %+v, %v", whole, err)
	}
	var embedded embedsKids
	if err := sd.Decode(ctx, b, &embedded); err != nil || embedded.Label != "root" || len(embedded.Kids) != 2 {
		t.Fatalf("got %+v, %v", embedded, err)
	}
	var partial labelOnly
	for range 2 { // the second verdict comes from the cache
		err = sd.Decode(ctx, b, &partial)
		if !errors.Is(err, ErrUnsafeTarget) {
			t.Fatalf("got %v, want ErrUnsafeTarget", err)
		}
	}
	var anyV map[string]any
	if err := sd.Decode(ctx, b, &anyV); err != nil || anyV["label"] != "root" {
		t.Fatalf("into a map: %v, %v", anyV, err)
	}
	if _, _, err := sd.DecodeAny(ctx, b); err != nil {
		t.Fatal(err)
	}
	if doc, _, err := sd.DecodeJSON(ctx, b); err != nil || string(doc) != `{"label":"root","kids":[{"label":"a","kids":[]},{"label":"b","kids":[{"label":"c","kids":[]}]}]}` {
		t.Fatalf("got %s, %v", doc, err)
	}
}

func TestRecursionThroughUnionIsSafe(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	const list = `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`
	f.register("list-value", list)
	sd := newSerde(t, f)
	b, err := sd.EncodeJSON(ctx, "list", list, []byte(`{"v":1,"next":{"v":2,"next":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		V int32 `avro:"v"`
	}
	if err := sd.Decode(ctx, b, &head); err != nil || head.V != 1 {
		t.Fatalf("got %+v, %v", head, err)
	}
}
