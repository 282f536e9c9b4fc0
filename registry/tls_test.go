package registry

import (
	"net/http"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// A registry whose tls section requires client certificates serves its
// API over mutual TLS only; a follower site reaches it with peer_tls (the
// CA and its own client certificate) and forwards writes there, and one
// without peer_tls cannot.
func TestRegistryOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	srvCert := servers.Issue(t, tlstest.Spec{CN: "east-registry"})
	west := clients.Issue(t, tlstest.Spec{CN: "west-registry", Client: true})
	operator := clients.Issue(t, tlstest.Spec{CN: "operator", Client: true})

	eastCluster, westCluster := newCluster(t), newCluster(t)
	primary := startInstance(t, eastCluster, func(c *Config) {
		c.TLS = tlsconfig.ServerFiles{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: clients.File, ClientAuth: tlsconfig.ClientAuthRequire}
	})
	primary.client = tlstest.Client(servers.Pool(), &operator.Pair)
	primary.waitReady(t)
	if primary.reg.cfg.advertised() != primary.url {
		t.Fatalf("advertised %s, want the https URL %s", primary.reg.cfg.advertised(), primary.url)
	}
	id := primary.register(t, "orders-value", orderV1)

	// Plain HTTP and a client without a certificate are refused.
	if resp, err := http.Get("http://" + primary.srv.Listener.Addr().String() + "/subjects"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d, want 400", resp.StatusCode)
		}
	}
	if resp, err := tlstest.Client(servers.Pool(), nil).Get(primary.url + "/subjects"); err == nil {
		resp.Body.Close()
		t.Errorf("a client without a certificate: %d, want the handshake refused", resp.StatusCode)
	}

	startCopier(t, eastCluster, westCluster, "_schemas")
	follower := startFollower(t, westCluster, primary, func(c *Config) {
		c.PeerTLS = tlsconfig.Files{CAFile: servers.File, CertFile: west.CertFile, KeyFile: west.KeyFile}
	})
	follower.waitReady(t)
	follower.must(t, 200, "GET", "/schemas/ids/1", nil)
	if got := follower.register(t, "payments-value", orderV2); got == id {
		t.Fatalf("a write forwarded over mutual TLS got id %d, the id of another schema", got)
	}

	stranger := startFollower(t, westCluster, primary, func(c *Config) { c.WriteTimeout = 2 * time.Second })
	stranger.waitReady(t)
	if r := stranger.do(t, "POST", "/subjects/other-value/versions", map[string]any{"schema": orderV1}); r.errorCode() != codeForwardError {
		t.Fatalf("a follower without peer_tls forwarding to the TLS primary: %d %s, want error %d", r.status, r.body, codeForwardError)
	}
}
