package serde

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

const orderV1 = `{
  "type": "record", "name": "OrderCreated", "namespace": "shop",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "total_cents", "type": "long"},
    {"name": "items", "type": {"type": "array", "items": {
      "type": "record", "name": "Item",
      "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}}
  ]
}`

// orderV2 adds an optional field: backward and forward compatible with v1.
const orderV2 = `{
  "type": "record", "name": "OrderCreated", "namespace": "shop",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "total_cents", "type": "long"},
    {"name": "items", "type": {"type": "array", "items": {
      "type": "record", "name": "Item",
      "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
    {"name": "coupon", "type": ["null", "string"], "default": null}
  ]
}`

type item struct {
	SKU string `avro:"sku"`
	Qty int32  `avro:"qty"`
}

type orderV1T struct {
	OrderID    string `avro:"order_id"`
	TotalCents int64  `avro:"total_cents"`
	Items      []item `avro:"items"`
}

type orderV2T struct {
	OrderID    string  `avro:"order_id"`
	TotalCents int64   `avro:"total_cents"`
	Items      []item  `avro:"items"`
	Coupon     *string `avro:"coupon"`
}

func sampleV1() orderV1T {
	return orderV1T{OrderID: "o-1", TotalCents: 4250, Items: []item{{"sku-1", 2}, {"sku-2", 1}}}
}

func newSerde(t testing.TB, f *fakeRegistry, opts ...Opt) *Serde {
	t.Helper()
	sd, err := New(f.client(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func TestRoundTripPerStrategy(t *testing.T) {
	const topic = "shop.order.created"
	for _, tc := range []struct {
		strategy Strategy
		key      bool
		subject  string
	}{
		{TopicNameStrategy, false, "shop.order.created-value"},
		{TopicNameStrategy, true, "shop.order.created-key"},
		{RecordNameStrategy, false, "shop.OrderCreated"},
		{RecordNameStrategy, true, "shop.OrderCreated"},
		{TopicRecordNameStrategy, false, "shop.order.created-shop.OrderCreated"},
		{TopicRecordNameStrategy, true, "shop.order.created-shop.OrderCreated"},
	} {
		t.Run(fmt.Sprintf("%s/key=%v", tc.strategy, tc.key), func(t *testing.T) {
			ctx := context.Background()
			f := newFakeRegistry(t)
			opts := []Opt{SubjectNameStrategy(tc.strategy), AutoRegister(true)}
			if tc.key {
				opts = append(opts, Key())
			}
			sd := newSerde(t, f, opts...)
			want := sampleV1()
			b, err := sd.Encode(ctx, topic, orderV1, want)
			if err != nil {
				t.Fatal(err)
			}
			if !f.hasSubject(tc.subject) {
				t.Fatalf("subject %q not registered; calls: %v", tc.subject, f.requests)
			}
			var got orderV1T
			if err := sd.Decode(ctx, b, &got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}

			// A second Serde without AutoRegister finds it by lookup.
			lookup := newSerde(t, f, opts[:1]...)
			if tc.key {
				lookup = newSerde(t, f, opts[0], Key())
			}
			b2, err := lookup.Encode(ctx, topic, orderV1, want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Fatalf("lookup encoding % x differs from registered % x", b2, b)
			}
		})
	}
}

func TestStrategySubjectNeedsNamedSchema(t *testing.T) {
	_, err := RecordNameStrategy.Subject("t", false, avro.MustParse(`"string"`))
	if !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("got %v, want ErrInvalidSchema", err)
	}
	_, err = TopicRecordNameStrategy.Subject("t", false, nil)
	if !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("got %v, want ErrInvalidSchema", err)
	}
	if s, _ := TopicNameStrategy.Subject("t", true, nil); s != "t-key" {
		t.Fatalf("got %q", s)
	}
}

func TestGoldenFraming(t *testing.T) {
	ctx := context.Background()
	if got := hex.EncodeToString(Header(7)); got != "0000000007" {
		t.Fatalf("Header(7) = %s", got)
	}
	if got := hex.EncodeToString(Header(0x01020304)); got != "0001020304" {
		t.Fatalf("Header(0x01020304) = %s", got)
	}
	f := newFakeRegistry(t)
	f.setNextID(7)
	const schema = `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"s","type":"string"}]}`
	f.register("golden-value", schema)
	sd := newSerde(t, f)
	b, err := sd.Encode(ctx, "golden", schema, map[string]any{"a": int64(1), "s": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	// magic 0, id 7, long 1 (zigzag 02), string length 2 (04) "hi".
	if got, want := hex.EncodeToString(b), "00000000070204"+"6869"; got != want {
		t.Fatalf("encoded %s, want %s", got, want)
	}
	id, payload, err := ParseHeader(b)
	if err != nil || id != 7 || hex.EncodeToString(payload) != "02046869" {
		t.Fatalf("ParseHeader = %d % x %v", id, payload, err)
	}
}

func TestParseHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{nil, "0 bytes, need at least 5"},
		{[]byte{0, 0, 0, 7}, "4 bytes, need at least 5"},
		{[]byte{1, 0, 0, 0, 7, 2}, "first byte is 0x01"},
		{[]byte(`{"order_id":"o-1"}`), `first byte is 0x7b ('{')`},
	} {
		_, _, err := ParseHeader(tc.in)
		if !errors.Is(err, ErrNotFramed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseHeader(%q) = %v, want ErrNotFramed saying %q", tc.in, err, tc.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	sd := newSerde(t, f, AutoRegister(true), UnknownIDTTL(time.Hour))
	good, err := sd.Encode(ctx, "shop.order.created", orderV1, sampleV1())
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := ParseHeader(good)

	t.Run("unknown id", func(t *testing.T) {
		bad := append(Header(999), good[HeaderSize:]...)
		var v orderV1T
		err := sd.Decode(ctx, bad, &v)
		if !errors.Is(err, ErrUnknownID) {
			t.Fatalf("got %v, want ErrUnknownID", err)
		}
		var re *sr.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != 40403 {
			t.Fatalf("got %v, want the registry's 40403 response wrapped", err)
		}
		// Remembered for UnknownIDTTL: no second request.
		before := f.calls("GET /schemas/ids/{id}")
		if _, gotID, err := sd.DecodeAny(ctx, bad); !errors.Is(err, ErrUnknownID) || gotID != 999 {
			t.Fatalf("DecodeAny = %d, %v", gotID, err)
		}
		if after := f.calls("GET /schemas/ids/{id}"); after != before {
			t.Fatalf("unknown id asked again: %d -> %d requests", before, after)
		}
	})

	t.Run("unknown id asked again without memory", func(t *testing.T) {
		sd := newSerde(t, f, UnknownIDTTL(0))
		bad := append(Header(998), good[HeaderSize:]...)
		before := f.calls("GET /schemas/ids/{id}")
		for range 2 {
			if _, err := sd.Validate(ctx, bad); !errors.Is(err, ErrUnknownID) {
				t.Fatalf("got %v, want ErrUnknownID", err)
			}
		}
		if n := f.calls("GET /schemas/ids/{id}") - before; n != 2 {
			t.Fatalf("%d requests, want 2", n)
		}
		// Registered meanwhile (replication reached this site): now found.
		f.setNextID(998)
		f.register("late-value", `"string"`)
		if _, err := sd.Validate(ctx, append(Header(998), 2, 'x')); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("magic byte", func(t *testing.T) {
		bad := bytes.Clone(good)
		bad[0] = 1
		var v orderV1T
		if err := sd.Decode(ctx, bad, &v); !errors.Is(err, ErrNotFramed) {
			t.Fatalf("got %v, want ErrNotFramed", err)
		}
	})

	for _, tc := range []struct {
		name    string
		payload []byte
		path    string
		reason  string
	}{
		{"truncated", good[:len(good)-1], ".items", "array block count is truncated"},
		{"truncated in an item", good[:len(good)-2], ".items[1].qty", "int is truncated"},
		{"truncated in a string", good[:HeaderSize+3], ".order_id", "string length 3"},
		{"empty payload", good[:HeaderSize], ".order_id", "string length is truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0), "", "2 bytes left over"},
		{"bad utf-8", append(append(Header(id), 2, 0xff), good[HeaderSize+4:]...), ".order_id", "not valid UTF-8"},
		{"huge array", append(append(Header(id), 0, 2), 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), ".items", "cannot fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v orderV1T
			err := sd.Decode(ctx, tc.payload, &v)
			var pe *PayloadError
			if !errors.Is(err, ErrPayloadMismatch) || !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PayloadError", err)
			}
			if pe.ID != id || pe.Path != tc.path || !strings.Contains(pe.Reason, tc.reason) {
				t.Fatalf("got %+v, want path %q reason containing %q", pe, tc.path, tc.reason)
			}
			if gotID, err := sd.Validate(ctx, tc.payload); gotID != id || !errors.Is(err, ErrPayloadMismatch) {
				t.Fatalf("Validate = %d, %v", gotID, err)
			}
			if _, _, err := sd.DecodeJSON(ctx, tc.payload); !errors.Is(err, ErrPayloadMismatch) {
				t.Fatalf("DecodeJSON: %v", err)
			}
		})
	}
}

func TestHostilePayloadsAreRefusedQuickly(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	nulls, _ := f.register("nulls-value", `{"type":"array","items":"null"}`)
	longs, _ := f.register("longs-value", `{"type":"array","items":"long"}`)
	strs, _ := f.register("strs-value", `{"type":"map","values":"string"}`)
	sd := newSerde(t, f)
	huge := []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01} // 2^63-1 items
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"2^63 nulls", append(Header(nulls), huge...)},
		{"2^63 longs", append(Header(longs), huge...)},
		{"MinInt64 block", append(Header(longs), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"negative count with lying size", append(Header(longs), 0x03, 0x02, 0x02, 0x04, 0x00)},
		{"giant string", append(Header(strs), 0x02, 0x02, 'k', 0xfe, 0xff, 0xff, 0xff, 0x0f)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			var v any
			if err := sd.Decode(ctx, tc.data, &v); !errors.Is(err, ErrPayloadMismatch) {
				t.Fatalf("got %v, want ErrPayloadMismatch", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	// Within the zero-size limit, a block of nulls decodes.
	var v []any
	if err := sd.Decode(ctx, append(Header(nulls), 0x06, 0x00), &v); err != nil || len(v) != 3 {
		t.Fatalf("got %v, %v", v, err)
	}
}

func TestDecodeUsesWriterSchema(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	id1, _ := f.register("shop.order.created-value", orderV1)
	id2, _ := f.register("shop.order.created-value", orderV2)
	sd := newSerde(t, f)

	// Written with v1 (an old producer) while v2 is the latest.
	w1, err := sd.Writer(ctx, "shop.order.created", sr.Schema{Schema: orderV1})
	if err != nil {
		t.Fatal(err)
	}
	if w1.ID != id1 || w1.Version != 1 || w1.Subject != "shop.order.created-value" {
		t.Fatalf("writer %+v, want id %d version 1", w1, id1)
	}
	b1, err := w1.Encode(sampleV1())
	if err != nil {
		t.Fatal(err)
	}
	coupon := "SPRING"
	v2 := orderV2T{OrderID: "o-2", TotalCents: 100, Items: []item{{"a", 1}}, Coupon: &coupon}
	b2, err := sd.Encode(ctx, "shop.order.created", orderV2, v2)
	if err != nil {
		t.Fatal(err)
	}
	if id, _, _ := ParseHeader(b2); id != id2 {
		t.Fatalf("v2 payload has id %d, want %d", id, id2)
	}

	// Backward: a v2 reader reads v1 payloads; the new field stays nil.
	var got2 orderV2T
	if err := sd.Decode(ctx, b1, &got2); err != nil {
		t.Fatal(err)
	}
	if got2.OrderID != "o-1" || got2.Coupon != nil || len(got2.Items) != 2 {
		t.Fatalf("v1 payload read as v2: %+v", got2)
	}
	// Forward: a v1 reader reads v2 payloads and skips the new field.
	var got1 orderV1T
	if err := sd.Decode(ctx, b2, &got1); err != nil {
		t.Fatal(err)
	}
	if got1.OrderID != "o-2" || got1.TotalCents != 100 {
		t.Fatalf("v2 payload read as v1: %+v", got1)
	}
	// DecodeAny reports each payload's own id.
	anyV, id, err := sd.DecodeAny(ctx, b2)
	if err != nil || id != id2 {
		t.Fatalf("DecodeAny: id %d, %v", id, err)
	}
	if m := anyV.(map[string]any); m["coupon"] != "SPRING" {
		t.Fatalf("DecodeAny = %v", anyV)
	}
}

func TestNotRegistered(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	sd := newSerde(t, f)
	// No such subject: 40401.
	_, err := sd.Encode(ctx, "shop.order.created", orderV1, sampleV1())
	if !errors.Is(err, ErrNotRegistered) || !strings.Contains(err.Error(), `"shop.order.created-value"`) {
		t.Fatalf("got %v, want ErrNotRegistered naming the subject", err)
	}
	// The subject exists with another schema: 40403.
	f.register("shop.order.created-value", orderV1)
	_, err = sd.Encode(ctx, "shop.order.created", orderV2, orderV2T{})
	if !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("got %v, want ErrNotRegistered", err)
	}
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != 40403 {
		t.Fatalf("got %v, want the registry's 40403 wrapped", err)
	}
	// Failures are not cached: once registered, it works.
	f.register("shop.order.created-value", orderV2)
	if _, err := sd.Encode(ctx, "shop.order.created", orderV2, orderV2T{}); err != nil {
		t.Fatal(err)
	}
	// UseLatest on a subject with no versions.
	latest := newSerde(t, f, UseLatest(true))
	if _, err := latest.Encode(ctx, "nothing.here", "", nil); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("got %v, want ErrNotRegistered", err)
	}
}

func TestAutoRegisterIncompatible(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.rejectAsIncompatible("shop.order.created-value")
	sd := newSerde(t, f, AutoRegister(true))
	_, err := sd.Encode(ctx, "shop.order.created", orderV1, sampleV1())
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("got %v, want ErrIncompatible", err)
	}
}

func TestInvalidInputs(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	sd := newSerde(t, f, AutoRegister(true))
	if _, err := sd.Encode(ctx, "t", `{"type":"record"`, nil); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("bad schema text: %v", err)
	}
	if _, err := sd.Writer(ctx, "t", sr.Schema{Schema: `syntax = "proto3";`, Type: sr.TypeProtobuf}); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("protobuf: %v", err)
	}
	// A value that does not fit the schema.
	_, err := sd.Encode(ctx, "shop.order.created", orderV1, map[string]any{"order_id": 5})
	if !errors.Is(err, ErrPayloadMismatch) {
		t.Fatalf("bad value: %v", err)
	}
	if f.calls("POST /subjects/{subject}/versions") != 1 {
		t.Fatalf("the schema should have been registered once: %v", f.requests)
	}
	// Decoding into a Go type that does not fit is not a payload mismatch.
	b, err := sd.Encode(ctx, "shop.order.created", orderV1, sampleV1())
	if err != nil {
		t.Fatal(err)
	}
	var wrong struct {
		OrderID int `avro:"order_id"`
	}
	if err := sd.Decode(ctx, b, &wrong); err == nil || errors.Is(err, ErrPayloadMismatch) {
		t.Fatalf("decoding into a wrong type: %v", err)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	f := newFakeRegistry(t)
	if _, err := New(nil); err == nil {
		t.Fatal("nil client accepted")
	}
	for _, o := range []Opt{CacheSize(0), LatestTTL(-1), UnknownIDTTL(-time.Second), SubjectNameStrategy(9), AvroAPI(nil)} {
		if _, err := New(f.client(t), o); err == nil {
			t.Fatalf("option %v accepted", o)
		}
	}
}

// moneyRef is a schema in its own subject, used by reference.
const money = `{"type":"record","name":"Money","namespace":"shop","fields":[
  {"name":"units","type":"long"},{"name":"currency","type":"string"}]}`

const invoice = `{"type":"record","name":"Invoice","namespace":"shop","fields":[
  {"name":"id","type":"string"},{"name":"total","type":"shop.Money"}]}`

func TestReferences(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("shop.Money", money)
	ref := sr.SchemaReference{Name: "shop.Money", Subject: "shop.Money", Version: 1}
	sd := newSerde(t, f, AutoRegister(true))

	w, err := sd.Writer(ctx, "shop.invoice.issued", sr.Schema{Schema: invoice, References: []sr.SchemaReference{ref}})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"id": "i-1", "total": map[string]any{"units": int64(1999), "currency": "EUR"}}
	b, err := w.Encode(in)
	if err != nil {
		t.Fatal(err)
	}

	// A fresh Serde resolves the reference through the registry.
	reader := newSerde(t, f)
	out, _, err := reader.DecodeAny(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out) != fmt.Sprint(in) {
		t.Fatalf("got %v, want %v", out, in)
	}
	if n := f.calls("GET /subjects/{subject}/versions/{version}"); n != 2 {
		t.Fatalf("%d reference fetches, want 2 (writer and reader each once)", n)
	}
	// The reference is cached: a second schema using it does not fetch it.
	const receipt = `{"type":"record","name":"Receipt","namespace":"shop","fields":[{"name":"paid","type":"Money"}]}`
	if _, err := sd.Writer(ctx, "shop.receipt", sr.Schema{Schema: receipt, References: []sr.SchemaReference{ref}}); err != nil {
		t.Fatal(err)
	}
	if n := f.calls("GET /subjects/{subject}/versions/{version}"); n != 2 {
		t.Fatalf("%d reference fetches, want still 2", n)
	}

	// Without the reference, shop.Money is unknown, although this Serde
	// parsed it before: no cache is shared between schemas.
	if _, err := sd.Writer(ctx, "shop.invoice.issued", sr.Schema{Schema: invoice}); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("got %v, want ErrInvalidSchema", err)
	}
	if avro.DefaultSchemaCache.Get("shop.Money") != nil {
		t.Fatal("a referenced type leaked into hamba/avro's default cache")
	}

	// A reference to a missing subject version.
	bad := sr.SchemaReference{Name: "shop.Money", Subject: "shop.Money", Version: 9}
	if _, err := sd.Writer(ctx, "x", sr.Schema{Schema: invoice, References: []sr.SchemaReference{bad}}); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("got %v, want ErrInvalidSchema", err)
	}
}

func TestTransitiveAndCyclicReferences(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("c", `{"type":"enum","name":"Currency","namespace":"shop","symbols":["EUR","USD"]}`)
	f.register("m", `{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"units","type":"long"},{"name":"currency","type":"shop.Currency"}]}`,
		sr.SchemaReference{Name: "shop.Currency", Subject: "c", Version: 1})
	id, _ := f.register("inv-value", invoice, sr.SchemaReference{Name: "shop.Money", Subject: "m", Version: 1})
	sd := newSerde(t, f)
	// id, units 5, currency USD (1), encoded by hand.
	payload := append(Header(id), 2, 'x', 10, 2)
	doc, gotID, err := sd.DecodeJSON(ctx, payload)
	if err != nil || gotID != id {
		t.Fatal(gotID, err)
	}
	if want := `{"id":"x","total":{"units":5,"currency":"USD"}}`; string(doc) != want {
		t.Fatalf("got %s, want %s", doc, want)
	}

	// a references b, which references a.
	f.register("a", `"string"`, sr.SchemaReference{Name: "B", Subject: "b", Version: 1})
	f.register("b", `"long"`, sr.SchemaReference{Name: "A", Subject: "a", Version: 1})
	cyc, _ := f.register("cyc-value", `"int"`, sr.SchemaReference{Name: "A", Subject: "a", Version: 1})
	if _, err := sd.Validate(ctx, append(Header(cyc), 2)); !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), "refers back") {
		t.Fatalf("got %v, want a cycle error", err)
	}
}

func TestCachePreventsSecondCall(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("shop.order.created-value", orderV1)
	sd := newSerde(t, f)
	var b []byte
	for range 50 {
		var err error
		if b, err = sd.Encode(ctx, "shop.order.created", orderV1, sampleV1()); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		var got orderV1T
		if err := sd.Decode(ctx, b, &got); err != nil {
			t.Fatal(err)
		}
		if _, err := sd.Validate(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.calls("POST /subjects/{subject}"); n != 1 {
		t.Fatalf("%d lookups, want 1", n)
	}
	if n := f.calls("GET /schemas/ids/{id}"); n != 1 {
		t.Fatalf("%d fetches by id, want 1", n)
	}
	if n := f.totalCalls(); n != 2 {
		t.Fatalf("%d requests in all, want 2: %v", n, f.requests)
	}
}

func TestCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	sd := newSerde(t, f, CacheSize(3))
	for i := range 10 {
		id, _ := f.register(fmt.Sprintf("s%d-value", i), fmt.Sprintf(`{"type":"fixed","name":"F%d","size":1}`, i))
		if _, err := sd.Validate(ctx, append(Header(id), 'x')); err != nil {
			t.Fatal(err)
		}
		if n := sd.ids.len(); n > 3 {
			t.Fatalf("%d cached schemas, bound is 3", n)
		}
	}
}

func TestUseLatest(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("shop.order.created-value", orderV1)
	id2, _ := f.register("shop.order.created-value", orderV2)
	sd := newSerde(t, f, UseLatest(true), LatestTTL(time.Hour))
	coupon := "X"
	b, err := sd.Encode(ctx, "shop.order.created", "", orderV2T{OrderID: "o", Coupon: &coupon})
	if err != nil {
		t.Fatal(err)
	}
	if id, _, _ := ParseHeader(b); id != id2 {
		t.Fatalf("id %d, want latest %d", id, id2)
	}
	w, err := sd.Writer(ctx, "shop.order.created", sr.Schema{})
	if err != nil || w.Version != 2 || w.Subject != "shop.order.created-value" {
		t.Fatalf("writer %+v, %v", w, err)
	}
	// A new version is not seen until LatestTTL has passed.
	const v3 = `{"type":"record","name":"OrderCreated","namespace":"shop","fields":[{"name":"order_id","type":"string"}]}`
	id3, _ := f.register("shop.order.created-value", v3)
	if w, _ := sd.Writer(ctx, "shop.order.created", sr.Schema{}); w.ID != id2 {
		t.Fatalf("latest changed within its TTL: %d", w.ID)
	}
	fresh := newSerde(t, f, UseLatest(true), LatestTTL(0))
	if w, _ := fresh.Writer(ctx, "shop.order.created", sr.Schema{}); w.ID != id3 {
		t.Fatalf("latest %d, want %d", w.ID, id3)
	}
	// The record-name strategies name the subject from the schema given.
	rn := newSerde(t, f, UseLatest(true), SubjectNameStrategy(RecordNameStrategy))
	if _, err := rn.Encode(ctx, "t", orderV1, sampleV1()); !errors.Is(err, ErrNotRegistered) || !strings.Contains(err.Error(), `"shop.OrderCreated"`) {
		t.Fatalf("got %v", err)
	}
	f.register("shop.OrderCreated", orderV1)
	if _, err := rn.Encode(ctx, "t", orderV1, sampleV1()); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	const topics = 4
	for i := range topics {
		f.register(fmt.Sprintf("t%d-value", i), orderV1)
		f.register(fmt.Sprintf("t%d-value", i), orderV2) // same ids for every topic
	}
	writer := newSerde(t, f)
	reader := newSerde(t, f)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Go(func() {
			topic := fmt.Sprintf("t%d", g%topics)
			schema, v := orderV1, any(sampleV1())
			if (g/topics)%2 == 1 {
				schema, v = orderV2, orderV2T{OrderID: "o-2"}
			}
			for range 20 {
				b, err := writer.Encode(ctx, topic, schema, v)
				if err != nil {
					errs <- err
					return
				}
				var got orderV2T
				if err := reader.Decode(ctx, b, &got); err != nil {
					errs <- err
					return
				}
				if _, _, err := reader.DecodeJSON(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Concurrent first uses share one request per id and per writer.
	if n := f.calls("GET /schemas/ids/{id}"); n != 2 {
		t.Fatalf("%d fetches by id, want 2 (one per schema id)", n)
	}
	if n := f.calls("POST /subjects/{subject}"); n != 2*topics {
		t.Fatalf("%d lookups, want %d (one per topic and schema)", n, 2*topics)
	}
}

func TestFlightWaiterRetriesWhenLoaderGivesUp(t *testing.T) {
	var fl flight[int, int]
	started := make(chan struct{})
	loaderCtx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = fl.do(loaderCtx, 1, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
	}()
	<-started
	done := make(chan int)
	go func() {
		v, _ := fl.do(context.Background(), 1, func(context.Context) (int, error) { return 42, nil })
		done <- v
	}()
	time.Sleep(10 * time.Millisecond) // let the waiter start waiting; either order passes
	cancel()
	select {
	case v := <-done:
		if v != 42 {
			t.Fatalf("got %d, want 42", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter stuck")
	}
}
