package serde

import (
	"context"
	"testing"

	"github.com/hamba/avro/v2"
)

// The benchmarks compare serde with hamba/avro alone, measured in the same
// run: the difference is the header, the cache lookup and, for decoding, the
// validation pass that every payload goes through.

func benchSetup(b *testing.B) (*Serde, avro.Schema, []byte) {
	b.Helper()
	f := newFakeRegistry(b)
	f.register("shop.order.created-value", orderV2)
	sd := newSerde(b, f)
	framed, err := sd.Encode(context.Background(), "shop.order.created", orderV2, orderV2T{
		OrderID: "o-1", TotalCents: 4250, Items: []item{{"sku-1", 2}, {"sku-2", 1}, {"sku-3", 7}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sd.Validate(context.Background(), framed); err != nil { // warm the id cache
		b.Fatal(err)
	}
	return sd, avro.MustParse(orderV2), framed
}

func BenchmarkDecode(b *testing.B) {
	ctx := context.Background()
	sd, schema, framed := benchSetup(b)
	b.Run("hamba", func(b *testing.B) {
		b.SetBytes(int64(len(framed)))
		for b.Loop() {
			var v orderV2T
			if err := avro.Unmarshal(schema, framed[HeaderSize:], &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serde", func(b *testing.B) {
		b.SetBytes(int64(len(framed)))
		for b.Loop() {
			var v orderV2T
			if err := sd.Decode(ctx, framed, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(int64(len(framed)))
		for b.Loop() {
			if _, err := sd.Validate(ctx, framed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(framed)))
		for b.Loop() {
			if _, _, err := sd.DecodeJSON(ctx, framed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	ctx := context.Background()
	sd, schema, _ := benchSetup(b)
	v := orderV2T{OrderID: "o-1", TotalCents: 4250, Items: []item{{"sku-1", 2}, {"sku-2", 1}, {"sku-3", 7}}}
	b.Run("hamba", func(b *testing.B) {
		for b.Loop() {
			if _, err := avro.Marshal(schema, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serde", func(b *testing.B) {
		for b.Loop() {
			if _, err := sd.Encode(ctx, "shop.order.created", orderV2, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	doc := []byte(`{"order_id":"o-1","total_cents":4250,"items":[{"sku":"sku-1","qty":2},{"sku":"sku-2","qty":1},{"sku":"sku-3","qty":7}],"coupon":null}`)
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			if _, err := sd.EncodeJSON(ctx, "shop.order.created", orderV2, doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
