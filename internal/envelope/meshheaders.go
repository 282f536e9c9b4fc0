package envelope

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Problems CheckMeshHeaders finds, as MeshHeaderError.Problem: short fixed
// words, so that a metric may be labelled by them.
const (
	ProblemRepeated      = "repeated"        // the header appears more than once
	ProblemMalformed     = "malformed"       // not a site name (or list of them)
	ProblemUnknownSite   = "unknown_site"    // a well-formed name of no site of this mesh
	ProblemLoop          = "loop"            // mesh_path names a site twice
	ProblemNotFromOrigin = "not_from_origin" // mesh_path does not start with mesh_origin
	ProblemNoOrigin      = "no_origin"       // mesh_path without mesh_origin
	ProblemTooLong       = "too_long"        // mesh_path longer than any path of a mesh
)

// MaxPathSites bounds the sites a mesh_path may name when the caller does
// not say which sites exist: a path never repeats a site, so no mesh of
// fewer sites makes a longer one.
const MaxPathSites = 256

// MeshHeaderError says why a record's mesh headers cannot be trusted to
// route it. It matches ErrMalformed.
type MeshHeaderError struct {
	// Header is HeaderOrigin or HeaderPath.
	Header string
	// Problem is one of the Problem constants.
	Problem string
	// Value is the offending value, truncated and quoted for display.
	Value string
}

func (e *MeshHeaderError) Error() string {
	var what string
	switch e.Problem {
	case ProblemRepeated:
		what = "appears more than once; a record carries one"
	case ProblemMalformed:
		what = "is not a site name (lower-case letters, digits, '-' and '_', at most 63 characters)"
		if e.Header == HeaderPath {
			what = "is not a comma-separated list of site names (lower-case letters, digits, '-' and '_', at most 63 characters each)"
		}
	case ProblemUnknownSite:
		what = "names a site that is not part of this mesh"
	case ProblemLoop:
		what = "names a site twice: the record went round a loop"
	case ProblemNotFromOrigin:
		what = "does not start with the record's mesh_origin"
	case ProblemNoOrigin:
		what = "is set but mesh_origin is not"
	case ProblemTooLong:
		what = fmt.Sprintf("names more than %d sites", MaxPathSites)
	}
	return fmt.Sprintf("envelope: %s=%s %s", e.Header, e.Value, what)
}

// Unwrap makes every MeshHeaderError match ErrMalformed.
func (e *MeshHeaderError) Unwrap() error { return ErrMalformed }

// Reason is the header and the problem, e.g. mesh_origin_unknown_site: a
// bounded set of values for metrics and dead-letter reasons.
func (e *MeshHeaderError) Reason() string { return e.Header + "_" + e.Problem }

// CheckMeshHeaders checks the mesh headers of a record before anything
// routes it by them: a record without them is valid (a plain Kafka client
// produced it, and it counts as produced where it is found); one that
// carries them must carry each once, mesh_origin a site name and mesh_path
// a comma-separated list of site names starting with the origin, never
// naming a site twice. When sites is not nil, every site named must be one
// it knows. An empty mesh_path counts as absent (the next hop starts it);
// an empty mesh_origin is malformed.
//
// Loop prevention trusts these headers (a record never enters a site on its
// path), so a record that fails the check must not be copied or have a hop
// appended: it is dead-lettered instead.
func CheckMeshHeaders(headers []kgo.RecordHeader, sites func(string) bool) error {
	var origin, path []byte
	var hasOrigin, hasPath bool
	for _, h := range headers {
		switch h.Key {
		case HeaderOrigin:
			if hasOrigin {
				return meshErr(HeaderOrigin, ProblemRepeated, h.Value)
			}
			origin, hasOrigin = h.Value, true
		case HeaderPath:
			if hasPath {
				return meshErr(HeaderPath, ProblemRepeated, h.Value)
			}
			path, hasPath = h.Value, true
		}
	}
	if hasOrigin {
		if validSite(string(origin)) != nil {
			return meshErr(HeaderOrigin, ProblemMalformed, origin)
		}
		if sites != nil && !sites(string(origin)) {
			return meshErr(HeaderOrigin, ProblemUnknownSite, origin)
		}
	}
	if len(path) == 0 {
		return nil
	}
	if !hasOrigin {
		return meshErr(HeaderPath, ProblemNoOrigin, path)
	}
	if n := strings.Count(string(path), ",") + 1; n > MaxPathSites {
		return meshErr(HeaderPath, ProblemTooLong, path)
	}
	// Each hop is checked in place (the replicator checks every record it
	// reads): the names seen go to a slice that stays on the stack for
	// paths of a usual length.
	seen := make([]string, 0, 16)
	rest := string(path)
	for {
		s, more, found := strings.Cut(rest, ",")
		if validSite(s) != nil {
			return meshErr(HeaderPath, ProblemMalformed, path)
		}
		if slices.Contains(seen, s) {
			return meshErr(HeaderPath, ProblemLoop, path)
		}
		seen = append(seen, s)
		if !found {
			break
		}
		rest = more
	}
	if sites != nil {
		for _, s := range seen {
			if !sites(s) {
				return meshErr(HeaderPath, ProblemUnknownSite, path)
			}
		}
	}
	if seen[0] != string(origin) {
		return meshErr(HeaderPath, ProblemNotFromOrigin, path)
	}
	return nil
}

// meshErr builds a MeshHeaderError showing at most the first 64 bytes of
// value, quoted (it may be any bytes).
func meshErr(header, problem string, value []byte) *MeshHeaderError {
	const maxShown = 64
	shown := fmt.Sprintf("%q", value)
	if len(value) > maxShown {
		shown = fmt.Sprintf("%q… (%d bytes)", value[:maxShown], len(value))
	}
	return &MeshHeaderError{Header: header, Problem: problem, Value: shown}
}
