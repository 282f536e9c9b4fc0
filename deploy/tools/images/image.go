package images

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image assembles the image of spec for linux/arch from its binary and the
// CA bundle: the empty base, one layer, and a config that runs the binary
// as UID:GID.
func Image(b Build, spec Spec, arch, binary string, caCerts []byte) (v1.Image, error) {
	created := time.Unix(b.Created, 0).UTC()
	layer, err := layerFiles{binary: binary, name: spec.Name, caCerts: caCerts, mtime: created}.build()
	if err != nil {
		return nil, fmt.Errorf("%s: layer: %w", spec.Name, err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "meshwork mkimages: " + spec.Name + " " + b.Version, Comment: "static binary, CA certificates, passwd",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: created}
	cf.Config = config(b, spec)
	return mutate.ConfigFile(img, cf)
}

func config(b Build, spec Spec) v1.Config {
	labels := map[string]string{
		"org.opencontainers.image.title":       spec.Name,
		"org.opencontainers.image.description": spec.Description,
		"org.opencontainers.image.version":     b.Version,
		"org.opencontainers.image.revision":    b.Commit,
		"org.opencontainers.image.created":     time.Unix(b.Created, 0).UTC().Format(time.RFC3339),
		"org.opencontainers.image.vendor":      "Meshwork",
	}
	if b.Source != "" {
		labels["org.opencontainers.image.source"] = b.Source
	}
	c := v1.Config{
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		Entrypoint: []string{path.Join(BinDir, spec.Name)},
		WorkingDir: "/",
		Env: []string{
			"PATH=" + BinDir,
			"SSL_CERT_FILE=" + CACertsPath,
		},
		Labels: labels,
	}
	if spec.Service() {
		c.Cmd = []string{"-config", ConfigPath}
		c.ExposedPorts = map[string]struct{}{strconv.Itoa(spec.Port) + "/tcp": {}}
	}
	return c
}

// Tag turns a version into an image tag: [A-Za-z0-9_.-], at most 128
// characters ('+' of a build's metadata becomes '-').
func Tag(version string) string {
	t := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, version)
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	return t[:min(len(t), 128)]
}

// WriteArchive writes the images (one per architecture) as an OCI image
// layout in the tar file out: its index names each with
// org.opencontainers.image.ref.name set to the tag and carries its
// platform.
func WriteArchive(out, tag string, imgs map[string]v1.Image) error {
	dir, err := os.MkdirTemp(filepath.Dir(out), ".layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	if err != nil {
		return err
	}
	for arch, img := range imgs {
		if err := p.AppendImage(img,
			layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}),
			layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
			return err
		}
	}
	return tarDir(dir, out)
}

// tarDir writes the files under dir into the tar file out, by relative
// path in lexical order, written beside out and renamed into place.
func tarDir(dir, out string) error {
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = time.Unix(0, 0), 0, 0, "", ""
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		f.Close()
		return err
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
