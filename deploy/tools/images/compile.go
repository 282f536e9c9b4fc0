package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// VersionPackage is the package whose version and commit variables the
// linker stamps (see internal/service/version.go).
const VersionPackage = "github.com/meshwork/meshwork/internal/service"

// Build says what to build and how to stamp it.
type Build struct {
	// Root is the repository's root directory (the services' module).
	Root string
	// Version and Commit are stamped into every binary's -version and
	// into the image labels; Version is also the image tag.
	Version, Commit string
	// Created is when the build's source was made (the commit's time, so
	// that the same commit gives the same image), as Unix seconds.
	Created int64
	// Source is the repository URL for org.opencontainers.image.source;
	// empty leaves the label out.
	Source string
}

// Compile builds the static binaries of specs for linux/arch into dir, one
// go build for all of them (it compiles their shared packages once), and
// returns the path of each binary by command name. Commands whose cmd/
// directory does not exist are left out and reported in missing.
func Compile(ctx context.Context, b Build, arch, dir string, specs []Spec) (bins map[string]string, missing []string, err error) {
	var pkgs []string
	bins = map[string]string{}
	for _, s := range specs {
		if _, err := os.Stat(filepath.Join(b.Root, "cmd", s.Name, "main.go")); err != nil {
			missing = append(missing, s.Name)
			continue
		}
		pkgs = append(pkgs, "./cmd/"+s.Name)
		bins[s.Name] = filepath.Join(dir, s.Name)
	}
	if len(pkgs) == 0 {
		return bins, missing, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	ldflags := fmt.Sprintf("-s -w -X %s.version=%s -X %s.commit=%s", VersionPackage, b.Version, VersionPackage, b.Commit)
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-tags", "timetzdata", "-ldflags", ldflags, "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, nil, fmt.Errorf("go %s (GOARCH=%s): %w\n%s", strings.Join(args, " "), arch, err, out)
	}
	return bins, missing, nil
}
