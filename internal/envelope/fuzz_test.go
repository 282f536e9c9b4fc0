package envelope

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzFromKafka feeds arbitrary header pairs to the parser: it must never
// panic, and whatever it accepts must survive a write and a second read
// unchanged.
func FuzzFromKafka(f *testing.F) {
	f.Add("ce_id", "1", "ce_time", "2026-01-01T00:00:00Z", "mesh_path", "east,west")
	f.Add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "mesh_origin", "east", "ce_x", "y")
	f.Add("ce_specversion", "1.0", "content-type", "application/json", "ce_time", "bad")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		env, err := FromKafka([]kgo.RecordHeader{
			{Key: k1, Value: []byte(v1)}, {Key: k2, Value: []byte(v2)}, {Key: k3, Value: []byte(v3)},
		})
		if err != nil {
			return
		}
		again, err := FromKafka(env.KafkaHeaders())
		if err != nil {
			t.Fatalf("re-reading written headers failed: %v (envelope %+v)", err, env)
		}
		if !sameEnvelope(env, again) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", env, again)
		}
	})
}

// FuzzFromHTTP does the same for HTTP headers, exercising percent-decoding.
func FuzzFromHTTP(f *testing.F) {
	f.Add("ce-subject", "caf%C3%A9", "Mesh-Path", "east")
	f.Add("ce-id", "%zz", "traceparent", "00-x")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		hd := http.Header{}
		hd.Add(k1, v1)
		hd.Add(k2, v2)
		env, err := FromHTTP(hd)
		if err != nil {
			return
		}
		out := http.Header{}
		env.SetHTTP(out)
		again, err := FromHTTP(out)
		if err != nil {
			t.Fatalf("re-reading written headers failed: %v (envelope %+v)", err, env)
		}
		if !sameEnvelope(env, again) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", env, again)
		}
	})
}

// FuzzPath checks the mesh_path parser alone.
func FuzzPath(f *testing.F) {
	f.Add("east,west")
	f.Add(" east , west ")
	f.Add(",")
	f.Fuzz(func(t *testing.T, v string) {
		p, err := parsePath(HeaderPath, v)
		if err != nil {
			return
		}
		for _, s := range p {
			if validSite(s) != nil {
				t.Fatalf("accepted invalid site %q in %q", s, v)
			}
		}
	})
}

func sameEnvelope(a, b Envelope) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time = b.Time
	if len(a.Extensions) == 0 && len(b.Extensions) == 0 {
		a.Extensions, b.Extensions = nil, nil
	}
	if len(a.Path) == 0 && len(b.Path) == 0 {
		a.Path, b.Path = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
