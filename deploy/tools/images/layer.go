package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CACertsPath is where the image holds the CA certificates, where Go's
// crypto/x509 looks first on Linux.
const CACertsPath = "/etc/ssl/certs/ca-certificates.crt"

// maxFileSize bounds a file read into a layer (a binary, the CA bundle).
const maxFileSize = 512 << 20

// layerFiles are the contents of an image's only layer.
type layerFiles struct {
	binary  string // path of the static binary on this machine
	name    string // its name in BinDir
	caCerts []byte // the CA bundle
	mtime   time.Time
}

// build writes the layer as a tar: directories first, each file with a
// fixed owner and time so that the same inputs give the same digest.
func (f layerFiles) build() (v1.Layer, error) {
	bin, err := readBounded(f.binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		name string
		mode int64
	}{{"etc", 0o755}, {"etc/ssl", 0o755}, {"etc/ssl/certs", 0o755}, {"etc/meshwork", 0o755},
		{"tmp", 0o1777}, {"usr", 0o755}, {"usr/local", 0o755}, {"usr/local/bin", 0o755}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name + "/", Mode: d.mode, ModTime: f.mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/nonexistent:/sbin/nologin\n", UID, GID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte(passwd)},
		{"etc/group", 0o644, []byte(group)},
		{CACertsPath[1:], 0o644, f.caCerts},
		{path.Join(BinDir, f.name)[1:], 0o755, bin},
	}
	for _, file := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: file.name, Mode: file.mode, Size: int64(len(file.data)), ModTime: f.mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(file.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// readBounded reads a whole file of at most maxFileSize bytes.
func readBounded(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d an image file may have", name, fi.Size(), maxFileSize)
	}
	return os.ReadFile(name)
}
