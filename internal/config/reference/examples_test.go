package reference

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/config"
)

const examplesMarkdown = "# Example\n" + // 1
	"\n" +
	"```yaml fixture\n" + // 3
	"name: a\n" +
	"server:\n" +
	"  addr: 127.0.0.1:81\n" +
	"```\n" +
	"\n" +
	"A fragment, not marked, so not checked:\n" +
	"\n" +
	"```yaml\n" +
	"just: a fragment\n" +
	"```\n" +
	"\n" +
	"1. In a list item:\n" +
	"\n" +
	"   ```yaml title=broken fixture\n" + // 17
	"   name: b\n" +
	"   nmae: typo\n" + // 19
	"   ```\n" +
	"\n" +
	"````markdown\n" +
	"```yaml fixture\n" +
	"nmae: inside another block, so not an example\n" +
	"```\n" +
	"````\n" +
	"\n" +
	"~~~yml fixture\n" + // 28
	"rules: [{match: a/#}]\n" +
	"~~~\n"

func TestYAMLBlocks(t *testing.T) {
	blocks := yamlBlocks(examplesMarkdown, "fixture")
	want := []struct {
		line  int
		first string // the block's first line, at line+1 of data
	}{{3, "name: a"}, {17, "name: b"}, {28, "rules: [{match: a/#}]"}}
	if len(blocks) != len(want) {
		t.Fatalf("got %d blocks, want %d: %+v", len(blocks), len(want), blocks)
	}
	for i, w := range want {
		lines := strings.Split(string(blocks[i].data), "\n")
		if blocks[i].line != w.line || lines[w.line] != w.first || strings.TrimSpace(strings.Join(lines[:w.line], "")) != "" {
			t.Errorf("block %d: line %d, data %q; want line %d, with %q on line %d after blank lines", i, blocks[i].line, blocks[i].data, w.line, w.first, w.line+1)
		}
	}
	if got := yamlBlocks(examplesMarkdown, "other"); len(got) != 0 {
		t.Errorf("blocks marked otherwise were taken: %+v", got)
	}
}

func TestCheckExamples(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "README.md")
	if err := os.WriteFile(path, []byte(examplesMarkdown), 0o644); err != nil {
		t.Fatal(err)
	}
	var decoded []string
	decode := func(name string, data []byte) error {
		c := fixtureDefaults()
		err := config.Parse(name, data, &c)
		decoded = append(decoded, c.Name)
		return err
	}
	tb := &fakeTB{name: "TestExamples"}
	CheckExamples(tb, path, "fixture", decode)
	if strings.Join(decoded, ",") != "a,b," {
		t.Errorf("decoded %q, want the three marked examples", decoded)
	}
	if len(tb.fatal) != 1 {
		t.Fatalf("want one failure, got %q", tb.fatal)
	}
	for _, w := range []string{
		`1 of the 3 examples marked "fixture" are wrong`,
		path + ":17: the example does not load",
		// config.Parse's error points at the line in the Markdown file.
		path + `:19:1: field nmae: unknown field "nmae"`,
	} {
		if !strings.Contains(tb.fatal[0], w) {
			t.Errorf("failure\n%s\ndoes not contain\n%s", tb.fatal[0], w)
		}
	}

	for _, tc := range []struct {
		name, path, marker, want string
	}{
		{"nothing marked", path, "mesh-mqtt", "has no example marked ```yaml mesh-mqtt"},
		{"no marker", path, "", "the marker is empty"},
		{"no file", filepath.Join(dir, "nope.md"), "fixture", "nope.md"},
	} {
		tb := &fakeTB{}
		CheckExamples(tb, tc.path, tc.marker, decode)
		if len(tb.fatal) != 1 || !strings.Contains(tb.fatal[0], tc.want) {
			t.Errorf("%s: got %q, want a failure containing %q", tc.name, tb.fatal, tc.want)
		}
	}
}
