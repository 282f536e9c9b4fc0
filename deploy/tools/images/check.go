package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Want is what Check expects of an image archive.
type Want struct {
	// Version and Commit must appear in the binary's -version output
	// (the commit as its first 12 characters) and in the labels.
	Version, Commit string
}

// Checked is what Check found in one image of an archive.
type Checked struct {
	Platform string
	User     string
	// VersionOutput is what the entrypoint printed for --version; empty
	// when the image is for another architecture than this machine's.
	VersionOutput string
}

// maxArchive bounds what Check unpacks from an archive.
const maxArchive = 2 << 30

// Check unpacks the OCI archive at file and checks every image in it: a
// non-root user, an entrypoint that is in the image, the CA certificates,
// the OCI labels, and, for images of this machine's architecture, that the
// entrypoint runs with --version, exits 0 and prints want's version and
// commit.
func Check(ctx context.Context, file string, want Want) ([]Checked, error) {
	dir, err := os.MkdirTemp("", "meshwork-image-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := untar(file, dir); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: not an OCI image layout: %w", file, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(im.Manifests) == 0 {
		return nil, fmt.Errorf("%s: the index lists no image", file)
	}
	var out []Checked
	var errs []error
	for _, desc := range im.Manifests {
		if desc.Annotations["org.opencontainers.image.ref.name"] == "" {
			errs = append(errs, fmt.Errorf("%s: image %s has no org.opencontainers.image.ref.name (its tag)", file, desc.Digest))
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		c, err := checkImage(ctx, img, dir, want)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", file, c.Platform, err))
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func checkImage(ctx context.Context, img v1.Image, dir string, want Want) (Checked, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return Checked{}, err
	}
	c := Checked{Platform: cf.OS + "/" + cf.Architecture, User: cf.Config.User}
	if err := nonRoot(cf.Config.User); err != nil {
		return c, err
	}
	if len(cf.Config.Entrypoint) == 0 || !path.IsAbs(cf.Config.Entrypoint[0]) {
		return c, fmt.Errorf("entrypoint %q: want an absolute path to the binary", cf.Config.Entrypoint)
	}
	for _, l := range []string{"title", "version", "revision", "created"} {
		if cf.Config.Labels["org.opencontainers.image."+l] == "" {
			return c, fmt.Errorf("label org.opencontainers.image.%s is missing", l)
		}
	}
	if v := cf.Config.Labels["org.opencontainers.image.version"]; v != want.Version {
		return c, fmt.Errorf("label org.opencontainers.image.version is %q, want %q", v, want.Version)
	}
	if r := cf.Config.Labels["org.opencontainers.image.revision"]; r != want.Commit {
		return c, fmt.Errorf("label org.opencontainers.image.revision is %q, want %q", r, want.Commit)
	}
	entry := cf.Config.Entrypoint[0]
	files, err := extract(img, map[string]bool{entry: true, CACertsPath: true, "/etc/passwd": true})
	if err != nil {
		return c, err
	}
	for _, f := range []string{entry, CACertsPath, "/etc/passwd"} {
		if files[f] == nil {
			return c, fmt.Errorf("%s is not in the image", f)
		}
	}
	if !bytes.Contains(files[CACertsPath], []byte("-----BEGIN CERTIFICATE-----")) {
		return c, fmt.Errorf("%s holds no certificate", CACertsPath)
	}
	if cf.OS != runtime.GOOS || cf.Architecture != runtime.GOARCH {
		return c, nil // built for another machine: the checks above are all that can be done here
	}
	bin := filepath.Join(dir, "entrypoint-"+path.Base(entry))
	if err := os.WriteFile(bin, files[entry], 0o755); err != nil {
		return c, err
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(rctx, bin, "--version")
	cmd.Env = []string{} // as in the image: nothing from this machine's environment
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return c, fmt.Errorf("%s --version: %w; stderr: %s", entry, err, bytes.TrimSpace(stderr.Bytes()))
	}
	c.VersionOutput = strings.TrimSpace(stdout.String())
	short := want.Commit[:min(len(want.Commit), 12)]
	if !strings.Contains(c.VersionOutput, want.Version) || !strings.Contains(c.VersionOutput, short) {
		return c, fmt.Errorf("%s --version printed %q, want the version %q and the commit %q", entry, c.VersionOutput, want.Version, short)
	}
	return c, nil
}

// nonRoot accepts a user given as UID or UID:GID with UID not 0; a name
// would need the image's passwd to resolve and Kubernetes' runAsNonRoot
// cannot verify it.
func nonRoot(user string) error {
	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	switch {
	case user == "":
		return errors.New("the config names no user: the image would run as root")
	case err != nil:
		return fmt.Errorf("user %q: want a numeric UID (runAsNonRoot cannot check a name)", user)
	case n == 0:
		return fmt.Errorf("user %q is root", user)
	}
	return nil
}

// extract reads the files named in want from the image's flattened file
// system (later layers win, whiteouts applied).
func extract(img v1.Image, want map[string]bool) (map[string][]byte, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	got := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return nil, err
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if !want[name] || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxFileSize {
			return nil, fmt.Errorf("%s: %d bytes, more than %d", name, h.Size, maxFileSize)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxFileSize))
		if err != nil {
			return nil, err
		}
		got[name] = b
	}
}

// untar unpacks the archive file into dir: regular files and directories
// only, no path outside dir, at most maxArchive bytes.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(path.Clean(h.Name))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q leaves the archive", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if total += h.Size; total > maxArchive {
				return fmt.Errorf("more than %d bytes unpacked", maxArchive)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			w, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, io.LimitReader(tr, h.Size))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q: unexpected type %c in an OCI layout", h.Name, h.Typeflag)
		}
	}
}
