package reference

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// CheckExamples loads every YAML example in the Markdown file at
// markdownPath whose fence carries marker in its info string (```yaml
// mesh-mqtt), with decode, and fails the test naming the file and line of
// each example that does not load. decode typically parses into a fresh
// DefaultConfig:
//
//	func(name string, data []byte) error {
//		c := mqtt.DefaultConfig()
//		return config.Parse(name, data, &c)
//	}
//
// name is markdownPath, and data holds the example's lines at their own
// line numbers (the lines before it are blank), so the errors of
// config.Parse point into the Markdown file. Examples without the marker,
// such as fragments that are not a whole file, are left alone. A file
// with no marked example fails too: the check would otherwise pass while
// checking nothing.
func CheckExamples(t TB, markdownPath, marker string, decode func(name string, data []byte) error) {
	t.Helper()
	if marker == "" {
		t.Fatalf("CheckExamples: the marker is empty; name the examples to check, as in ```yaml mesh-mqtt")
		return
	}
	text, err := os.ReadFile(markdownPath)
	if err != nil {
		t.Fatalf("reading the examples: %v", err)
		return
	}
	blocks := yamlBlocks(string(text), marker)
	if len(blocks) == 0 {
		t.Fatalf("%s has no example marked ```yaml %s: mark the examples that are whole configuration files, or drop this check", markdownPath, marker)
		return
	}
	var failures []string
	for _, b := range blocks {
		if err := decode(markdownPath, b.data); err != nil {
			failures = append(failures, fmt.Sprintf("%s:%d: the example does not load:\n\t\t%s",
				markdownPath, b.line, strings.ReplaceAll(err.Error(), "\n", "\n\t\t")))
		}
	}
	if len(failures) > 0 {
		t.Fatalf("%d of the %d examples marked %q are wrong; fix them (or the config, if they show what users should write):\n\t%s",
			len(failures), len(blocks), marker, strings.Join(failures, "\n\t"))
	}
}

// block is one fenced code block.
type block struct {
	line int    // of the opening fence, 1-based
	data []byte // the content, preceded by a blank line for each line before it
}

// yamlBlocks returns the fenced code blocks whose info string is yaml (or
// yml) followed by marker among its words. Fences follow CommonMark: ``` or
// ~~~, three or more, closed by a fence of the same character at least as
// long; a block in a list item loses its fence's indentation.
func yamlBlocks(text, marker string) []block {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out []block
	for i := 0; i < len(lines); i++ {
		indent, fence, info, ok := openingFence(lines[i])
		if !ok {
			continue
		}
		var body strings.Builder
		body.WriteString(strings.Repeat("\n", i+1))
		j := i + 1
		for ; j < len(lines) && !closingFence(lines[j], fence); j++ {
			body.WriteString(dedent(lines[j], indent) + "\n")
		}
		if words := strings.Fields(info); len(words) > 1 && (words[0] == "yaml" || words[0] == "yml") && slices.Contains(words[1:], marker) {
			out = append(out, block{line: i + 1, data: []byte(body.String())})
		}
		i = j
	}
	return out
}

// openingFence reports whether line opens a fenced block, with its
// indentation, its fence (```, ~~~~) and its info string.
func openingFence(line string) (indent int, fence, info string, ok bool) {
	rest := strings.TrimLeft(line, " ")
	indent = len(line) - len(rest)
	if !strings.HasPrefix(rest, "```") && !strings.HasPrefix(rest, "~~~") {
		return 0, "", "", false
	}
	n := len(rest) - len(strings.TrimLeft(rest, rest[:1]))
	fence, info = rest[:n], strings.TrimSpace(rest[n:])
	if fence[0] == '`' && strings.Contains(info, "`") {
		return 0, "", "", false // inline code, not a fence
	}
	return indent, fence, info, true
}

func closingFence(line, fence string) bool {
	rest := strings.TrimLeft(line, " ")
	n := len(rest) - len(strings.TrimLeft(rest, fence[:1]))
	return n >= len(fence) && strings.TrimSpace(rest[n:]) == ""
}

// dedent removes up to n leading spaces.
func dedent(line string, n int) string {
	i := 0
	for i < n && i < len(line) && line[i] == ' ' {
		i++
	}
	return line[i:]
}
