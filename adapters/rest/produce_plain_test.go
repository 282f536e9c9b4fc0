package rest

import (
	"reflect"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/envelope"
)

// plain looks at every field of the envelope: a record whose request set
// any attribute must get its own envelope, not the request's shared one.
func TestPlainSeesEveryEnvelopeField(t *testing.T) {
	if !plain([]envelope.Envelope{{ContentType: "a"}, {ContentType: "a"}}) || plain(nil) {
		t.Fatal("envelopes with one content type and nothing else are plain; none are not")
	}
	if plain([]envelope.Envelope{{ContentType: "a"}, {ContentType: "b"}}) {
		t.Fatal("two content types are not plain")
	}
	typ := reflect.TypeFor[envelope.Envelope]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "ContentType" {
			continue
		}
		envs := make([]envelope.Envelope, 2)
		v := reflect.ValueOf(&envs[1]).Elem().Field(i)
		switch {
		case f.Type.Kind() == reflect.String:
			v.SetString("x")
		case f.Type == reflect.TypeFor[time.Time]():
			v.Set(reflect.ValueOf(time.Now()))
		case f.Type.Kind() == reflect.Slice:
			v.Set(reflect.MakeSlice(f.Type, 1, 1))
		case f.Type.Kind() == reflect.Map:
			v.Set(reflect.MakeMap(f.Type))
		default:
			t.Fatalf("envelope field %s (%s) is new to this test: teach plain and this test about it", f.Name, f.Type)
		}
		if plain(envs) {
			t.Errorf("envelope field %s set, and plain did not see it", f.Name)
		}
	}
}
