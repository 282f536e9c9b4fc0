package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"sync"
)

// Reloading is a client's TLS configuration that is made anew when the
// content of its files changes: a CA or client certificate renewed on disk
// (Strimzi renews its cluster CA every year, cert-manager its
// certificates) is used from the next connection, without a restart. The
// files are digested at each Config call, which a client makes once per
// connection.
type Reloading struct {
	files Files
	field string

	mu     sync.Mutex
	cfg    *tls.Config
	digest [sha256.Size]byte
}

// NewReloading reads the files now, so that a missing one stops the
// service at start; field is the tls section's configuration path, used
// in errors.
func NewReloading(f Files, field string) (*Reloading, error) {
	r := &Reloading{files: f, field: field}
	sum, err := f.Digest(field)
	if err != nil {
		return nil, err
	}
	if r.cfg, err = f.Client(field); err != nil {
		return nil, err
	}
	r.digest = sum
	return r, nil
}

// Config returns the configuration of the files as they are now, or the
// last good one while they cannot be read or do not make one (in the
// middle of a renewal that writes the certificate and its key one after
// the other).
// A nil Reloading (no TLS) returns nil.
func (r *Reloading) Config() *tls.Config {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sum, err := r.files.Digest(r.field)
	if err != nil || sum == r.digest {
		return r.cfg
	}
	if cfg, err := r.files.Client(r.field); err == nil {
		r.cfg, r.digest = cfg, sum
	}
	return r.cfg
}
