package trace

import "testing"

// FuzzUnmarshal: whatever a record of _mesh.trace holds, decoding returns
// hops or an error, never panics or allocates without bound; what decodes
// encodes again to bytes that decode the same.
func FuzzUnmarshal(f *testing.F) {
	c, err := NewCodec()
	if err != nil {
		f.Fatal(err)
	}
	b, _ := c.Marshal(sampleHops())
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		hops, err := c.Unmarshal(b)
		if err != nil {
			return
		}
		again, err := c.Marshal(hops)
		if err != nil {
			t.Fatalf("decoded hops do not encode: %v", err)
		}
		if _, err := c.Unmarshal(again); err != nil {
			t.Fatalf("re-encoded hops do not decode: %v", err)
		}
	})
}
