package envelope

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The envelope is parsed and written on every hop of every event, so its
// cost is measured against the floor of copying the same headers.

func BenchmarkFromKafka(b *testing.B) {
	e := full()
	hs := e.KafkaHeaders()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromKafka(hs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetKafka(b *testing.B) {
	e := full()
	r := &kgo.Record{Headers: make([]kgo.RecordHeader, 0, 16)}
	b.ReportAllocs()
	for b.Loop() {
		r.Headers = r.Headers[:0]
		e.SetKafka(r)
	}
}

// BenchmarkCopyHeaders is the reference: copying the same headers without
// parsing or validating them.
func BenchmarkCopyHeaders(b *testing.B) {
	e := full()
	hs := e.KafkaHeaders()
	dst := make([]kgo.RecordHeader, 0, len(hs))
	b.ReportAllocs()
	for b.Loop() {
		dst = append(dst[:0], hs...)
	}
	_ = dst
}

// BenchmarkCheckMeshHeaders is the check the replicator makes of every
// record it reads.
func BenchmarkCheckMeshHeaders(b *testing.B) {
	e := full()
	hs := e.KafkaHeaders() // mesh_origin east, mesh_path east,west
	known := func(s string) bool { return s == "north" || s == "east" || s == "west" }
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckMeshHeaders(hs, known); err != nil {
			b.Fatal(err)
		}
	}
}
