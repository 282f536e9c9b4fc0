package devmesh

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"go.etcd.io/bbolt"
)

// broker is a site's embedded MQTT broker (mochi-mqtt), set up so that it
// never acknowledges what it may drop for the site's MQTT adapter, and keeps
// its sessions on disk:
//
//   - mochi acknowledges a PUBLISH before it hands the message to the
//     subscribers' sessions, and drops the message for a session whose
//     in-flight store is full (8192 by default) or whose write queue is
//     full. The flow hook (flow.go) runs before the acknowledgement and
//     holds the publisher while the adapter's session is at its bound, so
//     mochi's own limits, raised above that bound, are never reached.
//   - mochi keeps sessions in memory unless a storage hook is added: the
//     bolt hook (one bbolt file, no further dependencies) stores clients,
//     subscriptions, retained and in-flight messages in <site>/mqtt
//     (with a fix: sessionstore.go).
//   - A client that stops reading would block mochi's fan-out (a write to
//     its full socket holds the client's lock that the publishing path
//     takes): every connection has a write deadline (stallConn) after
//     which it is closed.
type broker struct {
	srv  *mochi.Server
	flow *flowHook
	addr string // host:port it listens on
}

// startBroker serves the MQTT broker of site on 127.0.0.1:port (0 picks a
// free port), with its state in dir. In a secure dev mesh, clients must
// authenticate (auth) and connect with TLS (tlsCfg); nil for either leaves
// it open.
func startBroker(site string, port int, dir string, cfg BrokerConfig, bridge string, auth *mqttAuth, tlsCfg *tls.Config, logger *slog.Logger) (_ *broker, err error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("%w (is another process using the port?)", err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	opts := &mochi.Options{
		// The broker logs every hook and listener at info; keep warnings.
		Logger: slog.New(brokerLog{logger.Handler()}),
	}
	opts.Capabilities = mochi.NewDefaultServerCapabilities()
	// mochi's own limits, where it drops, sit above the flow hook's bound
	// (plus one message per concurrent publisher that may pass the check
	// at once), so they are never reached.
	opts.Capabilities.MaximumInflight = 65535
	opts.Capabilities.MaximumClientWritesPending = int32(max(8192, 2*cfg.SessionQueue))
	b := &broker{srv: mochi.New(opts), addr: ln.Addr().String()}
	store := sessionStore{new(bolt.Hook)}
	b.flow = newFlowHook(b.srv, store, cfg.SessionQueue, bridge, auth, logger)
	if err := b.srv.AddHook(b.flow, nil); err != nil {
		return nil, err
	}
	storeOpts := &bolt.Options{
		Path: filepath.Join(dir, "sessions.bolt"),
		// Without a sync per write: a killed process loses nothing (the
		// page cache has it), a crashed machine may. It is a dev mesh;
		// a sync per message would bound a burst to the disk's syncs.
		Options: &bbolt.Options{Timeout: time.Second, NoSync: true},
	}
	if err := b.srv.AddHook(store, storeOpts); err != nil {
		return nil, fmt.Errorf("session store %s: %w", storeOpts.Path, err)
	}
	// TLS above the write deadlines: a stalled TLS connection is closed
	// as a plain one is.
	var served net.Listener = stallListener{Listener: ln, timeout: cfg.WriteTimeout, stalled: b.flow.stalled}
	if tlsCfg != nil {
		served = tls.NewListener(served, tlsCfg)
	}
	l := listeners.NewNet(site+"-tcp", served)
	if err := b.srv.AddListener(l); err != nil {
		return nil, err
	}
	if err := b.srv.Serve(); err != nil {
		b.srv.Close()
		return nil, err
	}
	return b, nil
}

// close releases held publishers, disconnects every client and closes the
// session store.
func (b *broker) close() error {
	b.flow.close()
	return b.srv.Close()
}
