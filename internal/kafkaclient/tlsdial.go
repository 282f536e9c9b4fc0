package kafkaclient

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// tlsDialer dials brokers over TLS with the configuration of its files as
// they are at each dial (tlsconfig.Reloading): a renewed cluster CA or
// client certificate is used from the next connection.
type tlsDialer struct {
	tls *tlsconfig.Reloading
	net *net.Dialer
}

// DialContext is kgo.Dialer's function.
func (d *tlsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&tls.Dialer{NetDialer: d.net, Config: d.tls.Config()}).DialContext(ctx, network, addr)
}
