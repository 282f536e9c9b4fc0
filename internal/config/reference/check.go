package reference

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// UpdateEnv is the environment variable that makes Check write the
// reference instead of comparing it: UPDATE_REFERENCE=1 go test ./pkg.
const UpdateEnv = "UPDATE_REFERENCE"

// TB is the part of testing.TB that Check and CheckExamples use, so that
// this package's API does not depend on package testing; pass the test's t.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Check fails the test when the committed reference at path (relative to
// the package under test) differs from Markdown(doc, v), saying how to
// regenerate it; with UPDATE_REFERENCE=1 in the environment it writes the
// file instead. A test per config type thereby keeps its reference from
// drifting from the code.
func Check(t TB, path string, doc Doc, v any) {
	t.Helper()
	want, err := Markdown(doc, v)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
		return
	}
	have, err := os.ReadFile(path)
	if os.Getenv(UpdateEnv) == "1" {
		if err == nil && string(have) == want {
			return
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatalf("writing the reference: %v", err)
			return
		}
		t.Logf("wrote %s", path)
		return
	}
	regenerate := regenerateCommand(t.Name())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Fatalf("%s does not exist; generate it with\n\t%s\nand commit it", path, regenerate)
	case err != nil:
		t.Fatalf("reading the reference: %v", err)
	default:
		if got := strings.ReplaceAll(string(have), "\r\n", "\n"); got != want {
			line, w, h := firstDifference(want, got)
			t.Fatalf("%s is out of date with the config types: at line %d the types give\n\t%q\nbut the file has\n\t%q\nIt is generated from the types' doc comments and defaults, so do not edit it: change the code, then regenerate it with\n\t%s",
				path, line, w, h, regenerate)
		}
	}
}

// regenerateCommand is the command that rewrites the references of the
// test named test, in the package of the working directory.
func regenerateCommand(test string) string {
	parts := strings.Split(test, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	pkg := "."
	if wd, err := os.Getwd(); err == nil {
		if root, err := moduleRoot(wd, modulePath); err == nil {
			if rel, err := filepath.Rel(root, wd); err == nil && rel != "." {
				pkg = "./" + filepath.ToSlash(rel)
			}
		}
	}
	return fmt.Sprintf("%s=1 go test -run '%s' %s", UpdateEnv, strings.Join(parts, "/"), pkg)
}

// firstDifference returns the first line (1-based) where a and b differ,
// and that line of each ("" past the end).
func firstDifference(a, b string) (int, string, string) {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; ; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y || i >= len(al) || i >= len(bl) {
			return i + 1, x, y
		}
	}
}
