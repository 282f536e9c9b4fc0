package serde

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// TestAgainstSrfake runs the main paths against franz-go's own fake
// registry, an implementation of Confluent's API that this package's authors
// did not write, as a check on the in-test fake.
func TestAgainstSrfake(t *testing.T) {
	ctx := context.Background()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}

	lookup, err := New(cl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookup.Encode(ctx, "shop.order.created", orderV1, sampleV1()); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("unregistered subject: %v", err)
	}

	register, err := New(cl, AutoRegister(true))
	if err != nil {
		t.Fatal(err)
	}
	b, err := register.Encode(ctx, "shop.order.created", orderV1, sampleV1())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookup.Encode(ctx, "shop.order.created", orderV2, orderV2T{}); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("unregistered schema of a known subject: %v", err)
	}
	b2, err := register.Encode(ctx, "shop.order.created", orderV2, orderV2T{OrderID: "o-2"})
	if err != nil {
		t.Fatal(err)
	}
	var got orderV2T
	if err := lookup.Decode(ctx, b, &got); err != nil || got.OrderID != "o-1" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if err := lookup.Decode(ctx, b2, &got); err != nil || got.OrderID != "o-2" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := lookup.Validate(ctx, append(Header(4242), b[HeaderSize:]...)); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("unknown id: %v", err)
	}

	latest, err := New(cl, UseLatest(true))
	if err != nil {
		t.Fatal(err)
	}
	w, err := latest.Writer(ctx, "shop.order.created", sr.Schema{})
	if err != nil || w.Version != 2 {
		t.Fatalf("latest: %+v, %v", w, err)
	}

	// References.
	if _, err := cl.CreateSchema(ctx, "shop.Money", sr.Schema{Schema: money}); err != nil {
		t.Fatal(err)
	}
	ref := sr.SchemaReference{Name: "shop.Money", Subject: "shop.Money", Version: 1}
	inv, err := register.Writer(ctx, "shop.invoice.issued", sr.Schema{Schema: invoice, References: []sr.SchemaReference{ref}})
	if err != nil {
		t.Fatal(err)
	}
	b3, err := inv.EncodeJSON([]byte(`{"id":"i-1","total":{"units":1999,"currency":"EUR"}}`))
	if err != nil {
		t.Fatal(err)
	}
	doc, _, err := lookup.DecodeJSON(ctx, b3)
	if err != nil || string(doc) != `{"id":"i-1","total":{"units":1999,"currency":"EUR"}}` {
		t.Fatalf("got %s, %v", doc, err)
	}
}
