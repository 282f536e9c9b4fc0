package kafkaclient

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net"
	"sync"

	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// tlsDialer dials brokers over TLS with the configuration its files make,
// made anew when their content changes: a CA or client certificate renewed
// on disk (Strimzi renews its cluster CA every year) is used from the next
// connection, without a restart. The files are digested at each dial;
// dials are rare (one connection per broker, kept).
type tlsDialer struct {
	files tlsconfig.Files
	field string
	net   *net.Dialer

	mu     sync.Mutex
	cfg    *tls.Config
	digest [sha256.Size]byte
}

// newTLSDialer reads the files now, so that a missing one stops the
// service at start.
func newTLSDialer(files tlsconfig.Files, field string, nd *net.Dialer) (*tlsDialer, error) {
	d := &tlsDialer{files: files, field: field, net: nd}
	if _, err := d.config(); err != nil {
		return nil, err
	}
	return d, nil
}

// config returns the configuration of the files as they are now; when they
// cannot be read (in the middle of a renewal), the last good one.
func (d *tlsDialer) config() (*tls.Config, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sum, err := d.files.Digest(d.field)
	switch {
	case err != nil && d.cfg != nil:
		return d.cfg, nil
	case err != nil:
		return nil, err
	case d.cfg != nil && sum == d.digest:
		return d.cfg, nil
	}
	cfg, err := d.files.Client(d.field)
	if err != nil {
		if d.cfg != nil {
			return d.cfg, nil
		}
		return nil, err
	}
	d.cfg, d.digest = cfg, sum
	return cfg, nil
}

// DialContext is kgo.Dialer's function.
func (d *tlsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	cfg, err := d.config()
	if err != nil {
		return nil, err
	}
	return (&tls.Dialer{NetDialer: d.net, Config: cfg}).DialContext(ctx, network, addr)
}
