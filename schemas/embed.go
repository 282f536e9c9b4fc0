package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hamba/avro/v2"
)

// Files holds every .avsc file of this directory and of examples/.
//
//go:embed *.avsc examples/*.avsc
var Files embed.FS

// File names of the mesh's own contracts.
const (
	InterestLease = "interest-lease.avsc"
	TopicCatalog  = "topic-catalog.avsc"
	TraceHop      = "trace-hop.avsc"
	DeadLetter    = "dlq-metadata.avsc"
)

// Contract returns the text of the contract file name, like InterestLease or
// "examples/shop.order.created.v2.avsc"; the ".avsc" may be left out.
func Contract(name string) (string, error) {
	if !strings.HasSuffix(name, ".avsc") {
		name += ".avsc"
	}
	b, err := Files.ReadFile(path.Clean(name))
	if err != nil {
		return "", fmt.Errorf("schemas: no contract %q (see Names): %w", name, err)
	}
	return string(b), nil
}

// Parse returns the parsed contract file name (as for Contract). Each call
// parses with a fresh schema cache, never with hamba/avro's process-wide one,
// so the types of one contract never leak into another.
func Parse(name string) (avro.Schema, error) {
	text, err := Contract(name)
	if err != nil {
		return nil, err
	}
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schemas: %s: %w", name, err)
	}
	return s, nil
}

// Names lists the contract files, like "interest-lease.avsc" and
// "examples/shop.order.created.v1.avsc", in lexical order.
func Names() []string {
	var names []string
	_ = fs.WalkDir(Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".avsc") {
			names = append(names, p)
		}
		return nil
	})
	return names
}
