package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

type position struct{ line, col int }

// index maps YAML paths to where they are written, and lines back to paths.
type index struct {
	pos    map[string]position
	byLine map[int][]string
}

func newIndex(root *yaml.Node) *index {
	idx := &index{pos: make(map[string]position), byLine: make(map[int][]string)}
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		idx.walk(root.Content[0], "")
	}
	return idx
}

func (idx *index) add(path string, n *yaml.Node) {
	if path == "" {
		return
	}
	idx.pos[path] = position{n.Line, n.Column}
	idx.byLine[n.Line] = append(idx.byLine[n.Line], path)
}

func (idx *index) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			idx.add(p, k)
			idx.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			idx.add(p, v)
			idx.walk(v, p)
		}
	}
	// Aliases are not followed: their fields are written at the anchor, and
	// an alias may refer to an enclosing node.
}

// fieldAt returns the deepest path written on line.
func (idx *index) fieldAt(line int) string {
	best := ""
	for _, p := range idx.byLine[line] {
		if len(p) > len(best) {
			best = p
		}
	}
	return best
}

// keyAt returns the path of the mapping key named key on line.
func (idx *index) keyAt(line int, key string) string {
	for _, p := range idx.byLine[line] {
		if p == key || strings.HasSuffix(p, "."+key) {
			return p
		}
	}
	return key
}

// nearest returns the position of path, or of its nearest enclosing path
// that is written in the file.
func (idx *index) nearest(path string) (position, bool) {
	for p := path; p != ""; p = parent(p) {
		if pos, ok := idx.pos[p]; ok {
			return pos, true
		}
	}
	return position{}, false
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
