// Command mkimages builds Meshwork's container images without a container
// daemon and checks them:
//
//	mkimages -root . -out dist/images -version 0.3.0 -commit $(git rev-parse HEAD)
//
// For every command of images.Specs whose cmd/ directory exists, it
// compiles a static binary (CGO_ENABLED=0, -trimpath, the version and
// commit stamped with -ldflags -X, time zones embedded), puts it with the
// CA certificates on an empty base, and writes OUT/NAME.oci.tar, an OCI
// image layout archive. Then it unpacks each archive and checks it
// (images.Check): non-root user, entrypoint present, and the binary runs
// with --version and prints the version and commit. -check-only skips the
// build and checks the archives already in OUT.
//
// Exit status: 0 when every image was built and passed its check, 1
// otherwise, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshwork/meshwork/deploy/tools/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mkimages", flag.ContinueOnError)
	root := fs.String("root", ".", "the repository's root `directory`")
	out := fs.String("out", "dist/images", "where the image archives go (`directory`)")
	version := fs.String("version", "", "the version stamped into the binaries and labels; the image tag is made from it (required)")
	commit := fs.String("commit", "", "the commit stamped into the binaries and labels (required)")
	created := fs.Int64("created", 0, "the build's time as Unix `seconds` (the commit's, for reproducible images)")
	source := fs.String("source", "", "the repository `URL` for org.opencontainers.image.source")
	arches := fs.String("arch", runtime.GOARCH, "comma-separated `architectures` (linux/ARCH) per image; only this machine's runs in the check")
	ca := fs.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to put in the images (`file`)")
	checkOnly := fs.Bool("check-only", false, "check the archives in -out without building")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *version == "" || *commit == "" {
		return usageError{errors.New("-version and -commit are required")}
	}
	b := images.Build{Root: *root, Version: *version, Commit: *commit, Created: *created, Source: *source}
	specs := images.Specs()
	if !*checkOnly {
		built, err := build(ctx, b, strings.Split(*arches, ","), *ca, *out, specs, stdout)
		if err != nil {
			return err
		}
		specs = built
	}
	var errs []error
	for _, s := range specs {
		file := filepath.Join(*out, s.Name+".oci.tar")
		if _, err := os.Stat(file); *checkOnly && errors.Is(err, os.ErrNotExist) {
			continue
		}
		checked, err := images.Check(ctx, file, images.Want{Version: *version, Commit: *commit})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range checked {
			ran := fmt.Sprintf("--version: %q", c.VersionOutput)
			if c.VersionOutput == "" {
				ran = "--version not run (another architecture than this machine's)"
			}
			fmt.Fprintf(stdout, "ok   %s %s user %s, %s\n", file, c.Platform, c.User, ran)
		}
	}
	return errors.Join(errs...)
}

// build compiles and assembles the images of specs; it returns the specs
// it built (those whose command exists).
func build(ctx context.Context, b images.Build, arches []string, caFile, out string, specs []images.Spec, stdout io.Writer) ([]images.Spec, error) {
	caCerts, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("the CA bundle: %w (on Debian: apt-get install ca-certificates)", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	binDir, err := os.MkdirTemp(out, ".bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	imgs := map[string]map[string]v1.Image{}
	var built []images.Spec
	for i, arch := range arches {
		bins, missing, err := images.Compile(ctx, b, arch, filepath.Join(binDir, arch), specs)
		if err != nil {
			return nil, err
		}
		for _, m := range missing {
			if i == 0 {
				fmt.Fprintf(stdout, "skip %s: no cmd/%s in this tree\n", m, m)
			}
		}
		for _, s := range specs {
			if bins[s.Name] == "" {
				continue
			}
			img, err := images.Image(b, s, arch, bins[s.Name], caCerts)
			if err != nil {
				return nil, err
			}
			if imgs[s.Name] == nil {
				imgs[s.Name] = map[string]v1.Image{}
				built = append(built, s)
			}
			imgs[s.Name][arch] = img
		}
	}
	tag := images.Tag(b.Version)
	for _, s := range built {
		file := filepath.Join(out, s.Name+".oci.tar")
		if err := images.WriteArchive(file, tag, imgs[s.Name]); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		fi, err := os.Stat(file)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "wrote %s (%s:%s, %s, %.1f MiB)\n", file, s.Name, tag, strings.Join(arches, ","), float64(fi.Size())/(1<<20))
	}
	return built, nil
}
