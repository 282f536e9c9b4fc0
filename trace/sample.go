package trace

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
)

// DefaultSampleRate is the fraction of events traced unless configured:
// one in a hundred, which keeps _mesh.trace small in production while a
// busy topic still shows recent traces. The dev mesh traces all.
const DefaultSampleRate = 0.01

// Sampled reports whether the event with traceID (its W3C trace id, or ""
// when it has none) and eventID is traced at rate (0: none, 1: all). The
// decision depends on the ids alone, so every component of the mesh keeps
// the same events: with a trace id, it is OpenTelemetry's
// TraceIDRatioBased rule (the trace id's last 8 bytes, shifted right by
// one, below rate * 2^63), so the hops and the spans of the SDK agree;
// without one, the same rule over an FNV-1a hash of the event id, mixed.
func Sampled(rate float64, traceID, eventID string) bool {
	switch {
	case rate >= 1:
		return true
	case rate <= 0:
		return false
	}
	var x uint64
	var id [16]byte
	if len(traceID) == 32 {
		if _, err := hex.Decode(id[:], []byte(traceID)); err == nil {
			x = binary.BigEndian.Uint64(id[8:16]) >> 1
			return x < uint64(rate*(1<<63))
		}
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(eventID))
	return mix(h.Sum64())>>1 < uint64(rate*(1<<63))
}

// mix is SplitMix64's finalizer: FNV-1a alone leaves the high bits of ids
// that differ only at their end (event-1, event-2) poorly spread.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
