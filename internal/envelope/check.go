package envelope

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxPathSites bounds mesh_path: no route through a mesh crosses more sites,
// and a longer path is either a loop or forged.
const MaxPathSites = 64

// CheckMeshHeaders checks the mesh headers of a record as it enters a
// pipeline (an adapter's egress, a replicator's copy): every hop checks
// them, so a malformed value is refused where it first appears instead of
// being carried, and extended, across the mesh.
//
// A record without mesh headers (a plain Kafka client's) is valid, and so
// is an empty mesh_origin or mesh_path (both read as absent, as StampHop
// does). A present mesh_origin must be one site name, a present mesh_path
// a comma-separated list of at most MaxPathSites distinct site names that
// starts with mesh_origin, and neither may be repeated. With known set,
// every site named must also be one it accepts (a site of the topology);
// nil accepts any well-formed name.
//
// The error wraps ErrMalformed and names the header, its value truncated
// for a log line.
func CheckMeshHeaders(headers []kgo.RecordHeader, known func(site string) bool) error {
	var origin, path []byte
	var seenOrigin, seenPath bool
	for _, h := range headers {
		switch h.Key {
		case HeaderOrigin:
			if seenOrigin {
				return attrErr(HeaderOrigin, string(h.Value), "repeated; a record has one origin")
			}
			seenOrigin, origin = true, h.Value
		case HeaderPath:
			if seenPath {
				return attrErr(HeaderPath, string(h.Value), "repeated; a record has one path")
			}
			seenPath, path = true, h.Value
		}
	}
	if len(origin) > 0 {
		if err := checkSite(string(origin), known); err != nil {
			return attrErr(HeaderOrigin, string(origin), err.Error())
		}
	}
	if len(path) == 0 {
		return nil
	}
	if n := strings.Count(string(path), ",") + 1; n > MaxPathSites {
		return attrErr(HeaderPath, string(path), fmt.Sprintf("%d sites; a path crosses at most %d", n, MaxPathSites))
	}
	sites := strings.Split(string(path), ",")
	for i, s := range sites {
		if err := checkSite(s, known); err != nil {
			return attrErr(HeaderPath, string(path), "want comma-separated site names: "+err.Error())
		}
		for _, before := range sites[:i] {
			if before == s {
				return attrErr(HeaderPath, string(path), "names "+s+" twice; a record never enters a site twice")
			}
		}
	}
	if len(origin) > 0 && sites[0] != string(origin) {
		return attrErr(HeaderPath, string(path), "must start with the origin site "+string(origin))
	}
	return nil
}

func checkSite(s string, known func(string) bool) error {
	if err := validSite(s); err != nil {
		return err
	}
	if known != nil && !known(s) {
		return fmt.Errorf("%s is not a site of the mesh", s)
	}
	return nil
}
