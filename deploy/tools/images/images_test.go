package images

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

const testCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

// fakeBinary compiles a static program that prints "NAME VERSION (COMMIT)"
// for --version, as the services do, and exits 3 otherwise.
func fakeBinary(t *testing.T, output string) string {
	t.Helper()
	dir := t.TempDir()
	src := "package main\nimport (\"fmt\"; \"os\")\nfunc main() { if len(os.Args) == 2 && os.Args[1] == \"--version\" { fmt.Println(" + `"` + output + `"` + "); return }; os.Exit(3) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", "fake", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake binary: %v\n%s", err, out)
	}
	return filepath.Join(dir, "fake")
}

func writeAndCheck(t *testing.T, img v1.Image, want Want) ([]Checked, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "x.oci.tar")
	if err := WriteArchive(file, "0.1.0", map[string]v1.Image{runtime.GOARCH: img}); err != nil {
		t.Fatal(err)
	}
	return Check(context.Background(), file, want)
}

// An image as mkimages builds it passes the check; each broken property
// (root user, no user, missing entrypoint, a binary that prints another
// version) fails it with a message saying what is wrong.
func TestCheck(t *testing.T) {
	b := Build{Version: "0.1.0", Commit: "0123456789abcdef", Created: 1_700_000_000}
	spec := Spec{Name: "mesh-test", Port: 8080, Description: "test"}
	want := Want{Version: b.Version, Commit: b.Commit}
	good := fakeBinary(t, "mesh-test 0.1.0 (0123456789ab)")
	img, err := Image(b, spec, runtime.GOARCH, good, []byte(testCert))
	if err != nil {
		t.Fatal(err)
	}
	if checked, err := writeAndCheck(t, img, want); err != nil {
		t.Fatalf("a good image failed its check: %v", err)
	} else if len(checked) != 1 || checked[0].User != "65532:65532" {
		t.Fatalf("checked %+v", checked)
	}

	withConfig := func(f func(*v1.Config)) v1.Image {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		f(&cf.Config)
		out, err := mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	wrongVersion, err := Image(b, spec, runtime.GOARCH, fakeBinary(t, "mesh-test 0.0.9 (0123456789ab)"), []byte(testCert))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		img  v1.Image
		want string
	}{
		"root user":          {withConfig(func(c *v1.Config) { c.User = "0:0" }), "is root"},
		"no user":            {withConfig(func(c *v1.Config) { c.User = "" }), "would run as root"},
		"named user":         {withConfig(func(c *v1.Config) { c.User = "nonroot" }), "numeric UID"},
		"missing entrypoint": {withConfig(func(c *v1.Config) { c.Entrypoint = []string{"/usr/local/bin/other"} }), "not in the image"},
		"no revision label":  {withConfig(func(c *v1.Config) { delete(c.Labels, "org.opencontainers.image.revision") }), "revision is missing"},
		"wrong version":      {wrongVersion, "want the version"},
	} {
		if _, err := writeAndCheck(t, c.img, want); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check error %v, want one containing %q", name, err, c.want)
		}
	}
}

func TestTag(t *testing.T) {
	for in, want := range map[string]string{"0.3.0": "0.3.0", "v0.3.0-4-gabc+dirty": "v0.3.0-4-gabc-dirty", "+x": "v-x"} {
		if got := Tag(in); got != want {
			t.Errorf("Tag(%q) = %q, want %q", in, got, want)
		}
	}
}
