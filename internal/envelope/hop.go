package envelope

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Route returns a record's mesh_origin and mesh_path without reading the
// rest of its envelope: the replicator asks it of every record it reads, and
// decides from it alone whether the record goes on (see Envelope.Visited for
// the same question of a whole envelope). Either is empty when absent.
func Route(headers []kgo.RecordHeader) (origin string, path []string) {
	for _, h := range headers {
		switch h.Key {
		case HeaderOrigin:
			origin = string(h.Value)
		case HeaderPath:
			if len(h.Value) > 0 {
				path = strings.Split(string(h.Value), ",")
			}
		}
	}
	return origin, path
}

// StampHop returns the headers of a record as site receives it from the
// site from: site is appended to mesh_path, and a record that a plain
// Kafka client produced at from (no mesh_origin) gets mesh_origin from. A
// missing mesh_path starts with the origin (and from, when the record came
// through it). Every other header keeps its value and place; headers is
// not modified. It is the one place a hop is written into a record, as
// AddHop is for a whole envelope.
func StampHop(headers []kgo.RecordHeader, from, site string) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(headers)+2)
	origin := from // a plain Kafka client's record entered the mesh at from
	for _, h := range headers {
		if h.Key == HeaderOrigin && len(h.Value) > 0 {
			origin = string(h.Value)
		}
	}
	var hasOrigin, hasPath bool
	for _, h := range headers {
		switch h.Key {
		case HeaderOrigin:
			hasOrigin = true
		case HeaderPath:
			hasPath = true
			v := make([]byte, 0, len(h.Value)+1+len(site))
			if len(h.Value) == 0 {
				v = append(v, origin...)
			} else {
				v = append(v, h.Value...)
			}
			h = kgo.RecordHeader{Key: h.Key, Value: append(append(v, ','), site...)}
		}
		out = append(out, h)
	}
	if !hasOrigin {
		out = append(out, kgo.RecordHeader{Key: HeaderOrigin, Value: []byte(origin)})
	}
	if !hasPath {
		path := origin
		if from != origin {
			path += "," + from
		}
		out = append(out, kgo.RecordHeader{Key: HeaderPath, Value: []byte(path + "," + site)})
	}
	return out
}
