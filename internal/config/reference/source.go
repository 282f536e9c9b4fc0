package reference

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
)

// modulePath is the module whose config types are documented: their doc
// comments are read from its source tree.
const modulePath = "github.com/meshwork/meshwork"

// moduleRoot returns the directory of the go.mod that declares module,
// searching dir and its parents. A nested module (integration/) has its own
// go.mod, which is passed over.
func moduleRoot(dir, module string) (string, error) {
	for d := dir; ; {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && moduleLine(data) == module {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod of module %s in %s or above: run from inside the repository, whose source the doc comments are read from", module, dir)
		}
		d = parent
	}
}

// moduleLine returns the module path a go.mod declares.
func moduleLine(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// fieldDoc is what the source says about one struct field.
type fieldDoc struct {
	text string // the doc comment, whitespace collapsed; "" when undocumented
	pos  string // file:line of the field, relative to the module root
}

// sources reads the doc comments of the module's struct types, parsing each
// package directory once. One is made per Markdown call: nothing is shared
// between calls.
type sources struct {
	root    string
	rootErr error
	structs map[string]map[string]map[string]fieldDoc // package path -> type -> field -> doc
}

func newSources() *sources {
	s := &sources{structs: make(map[string]map[string]map[string]fieldDoc)}
	wd, err := os.Getwd()
	if err != nil {
		s.rootErr = err
		return s
	}
	s.root, s.rootErr = moduleRoot(wd, modulePath)
	return s
}

// fields returns the doc of each field of the named struct type t, by Go
// field name (an embedded field goes by its type's name).
func (s *sources) fields(t reflect.Type) (map[string]fieldDoc, error) {
	pkg, name := t.PkgPath(), t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i] // an instance of a generic type
	}
	switch {
	case name == "":
		return nil, fmt.Errorf("%s is an anonymous struct: declare it as a named type so that its fields can carry doc comments", t)
	case pkg != modulePath && !strings.HasPrefix(pkg, modulePath+"/"):
		return nil, fmt.Errorf("%s is declared outside %s, so its fields' doc comments cannot be read: wrap it in a type of this module, or tag the field yaml:\"-\"", t, modulePath)
	case s.rootErr != nil:
		return nil, s.rootErr
	}
	types, ok := s.structs[pkg]
	if !ok {
		var err error
		if types, err = s.parse(pkg); err != nil {
			return nil, err
		}
		s.structs[pkg] = types
	}
	fields, ok := types[name]
	if !ok {
		return nil, fmt.Errorf("no declaration of struct type %s in the source of %s", name, pkg)
	}
	return fields, nil
}

// parse reads the struct types declared in the package pkg. Its _test.go
// files count: a test's own config types are documented the same way. An
// external test package (pkg_test) shares the directory but not the types.
func (s *sources) parse(pkg string) (map[string]map[string]fieldDoc, error) {
	external := strings.HasSuffix(pkg, "_test")
	rel := strings.TrimPrefix(strings.TrimSuffix(pkg, "_test"), modulePath)
	dir := filepath.Join(s.root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the source of %s for its doc comments: %w", pkg, err)
	}
	fset := token.NewFileSet()
	types := make(map[string]map[string]fieldDoc)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parsing %s for its doc comments: %w", path, err)
		}
		if strings.HasSuffix(f.Name.Name, "_test") != external {
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if st, ok := ts.Type.(*ast.StructType); ok && ts.Assign == 0 {
					types[ts.Name.Name] = s.structFields(fset, st)
				}
			}
		}
	}
	return types, nil
}

// structFields collects the doc of each field of st. A field with no
// comment of its own, written on the line right after a documented field,
// shares that field's comment when the comment names it: in
//
//	// CertFile and KeyFile hold the client certificate; set both or neither.
//	CertFile string
//	KeyFile  string
//
// KeyFile is documented. A comment that does not name the field does not
// count (Username below a comment about Mechanism stays undocumented).
func (s *sources) structFields(fset *token.FileSet, st *ast.StructType) map[string]fieldDoc {
	out := make(map[string]fieldDoc)
	var prev *ast.Field
	prevText := ""
	for _, f := range st.Fields.List {
		text := commentText(f.Doc)
		if text == "" {
			text = commentText(f.Comment)
		}
		names := fieldNames(f)
		inherited := text == "" && prev != nil && prevText != "" &&
			fset.Position(prev.End()).Line+1 == fset.Position(f.Pos()).Line
		pos := fset.Position(f.Pos())
		if rel, err := filepath.Rel(s.root, pos.Filename); err == nil {
			pos.Filename = filepath.ToSlash(rel)
		}
		shared := prevText
		prev, prevText = f, text
		for _, name := range names {
			d := fieldDoc{text: text, pos: fmt.Sprintf("%s:%d", pos.Filename, pos.Line)}
			if inherited && mentions(shared, name) {
				d.text = shared
			}
			out[name] = d
			prevText = d.text // a run of three shares the first one's comment
		}
	}
	return out
}

// fieldNames returns the Go names a field declares; an embedded field is
// named by its type.
func fieldNames(f *ast.Field) []string {
	if len(f.Names) > 0 {
		names := make([]string, len(f.Names))
		for i, n := range f.Names {
			names[i] = n.Name
		}
		return names
	}
	x := f.Type
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.SelectorExpr:
			return []string{e.Sel.Name}
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.Ident:
			return []string{e.Name}
		default:
			return nil
		}
	}
}

func commentText(g *ast.CommentGroup) string {
	return strings.Join(strings.Fields(g.Text()), " ")
}

// mentions reports whether text has name as a whole word.
func mentions(text, name string) bool {
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(text)
}
