package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// maxSenders bounds the sender links kept open per connection: an address
// template may name many addresses, and each link holds broker resources.
// Past it, the link used least recently is closed.
const maxSenders = 256

// connection is one connection to the broker with its sessions (one for
// the ingress receivers, one for the egress senders, so that neither's
// session window holds up the other) and the egress links opened on it.
type connection struct {
	conn    *amqp.Conn
	in, out *amqp.Session
	dialect dialect

	mu      sync.Mutex
	senders map[string]*linkEntry
	used    uint64 // a clock for least-recently-used eviction
}

type linkEntry struct {
	link    *amqp.Sender
	lastUse uint64
}

// broker keeps the adapter connected: it dials with backoff, tells the
// broker's address syntax from its Open frame, attaches a receiver per
// ingress rule and runs it, and starts over when the connection or a link
// fails. Egress takes sender links from the current connection.
type broker struct {
	cfg  Broker
	id   string        // container id
	url  string        // without credentials
	sasl amqp.SASLType // when not plain
	// plain is SASL PLAIN as user, with the password read at each dial.
	plain    bool
	user     string
	password config.SecretRef
	tls      *tlsconfig.Reloading // nil without TLS
	log      *slog.Logger
	m        *linkMetrics
	in       *ingress // nil without ingress rules

	cur atomic.Pointer[connection]
	// lastErr is why the last connection failed or ended, for Ready.
	lastErr atomic.Pointer[error]
	// stop ends the connection; run ends with it. The connection outlives
	// the pipelines' work: what they hand back as they stop is Released on
	// it.
	stop    context.CancelFunc
	running sync.WaitGroup
	// waits are the egress sends' outcome waits; Close lets them end
	// before it closes the connection.
	waits sync.WaitGroup
}

// Connect starts keeping a connection to the broker in the background
// until Close.
func (b *broker) Connect(context.Context) error {
	ctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.running.Go(func() { b.run(ctx) })
	return nil
}

// Close waits for the egress outcome waits (they end with the pipelines'
// work), then closes the connection.
func (b *broker) Close(context.Context) error {
	b.waits.Wait()
	if b.stop != nil {
		b.stop()
	}
	b.running.Wait()
	return nil
}

func newBroker(cfg Config, in *ingress, log *slog.Logger, m *linkMetrics) (*broker, error) {
	b := &broker{cfg: cfg.Broker, id: cfg.containerID(), log: log, m: m, in: in}
	u, err := url.Parse(cfg.Broker.URL)
	if err != nil {
		return nil, fmt.Errorf("amqp: broker url: %w", err)
	}
	user, pass := cfg.Broker.Username, ""
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	b.url = u.String() // without the credentials: it is what logs and errors show
	ref := cfg.Broker.password()
	ref.Field = "amqp broker.password"
	if cfg.Broker.Username != "" {
		// Read now so that a missing file stops the start; read again
		// at each connection (dial), so a rotated password is used.
		if _, err = ref.Resolve(); err != nil {
			return nil, err
		}
		b.password = ref
	} else if pass != "" {
		b.password = config.SecretRef{Field: "amqp broker.url", Value: pass}
		log.Warn("config: a secret is written inline in the broker's URL; set broker.username and broker.password_file (or password_env) instead", "field", "broker.url")
	}
	b.user = user
	switch mech := cfg.Broker.SASL; {
	case mech == SASLNone:
	case mech == SASLExternal:
		// The identity is the client certificate's subject, which the
		// broker takes from the TLS session; the response is empty.
		b.sasl = amqp.SASLTypeExternal("")
	case mech == SASLPlain, mech == "" && user != "":
		b.plain = true
	default:
		b.sasl = amqp.SASLTypeAnonymous()
	}
	if u.Scheme == "amqps" {
		if b.tls, err = tlsconfig.NewReloading(cfg.Broker.TLS, "broker.tls"); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// run keeps a connection up until ctx ends, then closes it.
func (b *broker) run(ctx context.Context) {
	bo := retry.Backoff(b.cfg.MaxReconnectInterval)
	for {
		c, err := b.dial(ctx)
		if err == nil {
			start := time.Now()
			err = b.serve(ctx, c)
			if time.Since(start) > b.cfg.MaxReconnectInterval {
				bo.Reset() // it was up for a while: the next failure is a new one
			}
		}
		if ctx.Err() != nil {
			return
		}
		b.lastErr.Store(&err)
		b.m.reconnects.Inc()
		wait := bo.NextBackOff()
		b.log.Warn("amqp: connection to the broker failed; reconnecting", "broker", b.url, "in", wait, "error", err)
		if !retry.Sleep(ctx, wait) {
			return
		}
	}
}

// dial connects and opens the sessions.
func (b *broker) dial(ctx context.Context) (*connection, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ConnectTimeout)
	defer cancel()
	mech := b.sasl
	if b.plain {
		pass, err := b.password.Resolve()
		if err != nil {
			return nil, err
		}
		mech = amqp.SASLTypePlain(b.user, pass)
	}
	opts := &amqp.ConnOptions{ContainerID: b.id, IdleTimeout: b.cfg.IdleTimeout, SASLType: mech}
	if b.tls != nil {
		opts.TLSConfig = b.tls.Config() // the files as they are now
	}
	if b.cfg.IdleTimeout == 0 {
		opts.IdleTimeout = -1
	}
	conn, err := amqp.Dial(ctx, b.url, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", b.url, err)
	}
	c := &connection{conn: conn, dialect: detect(b.cfg.Kind, conn.Properties()), senders: map[string]*linkEntry{}}
	if c.in, err = conn.NewSession(ctx, nil); err == nil {
		c.out, err = conn.NewSession(ctx, nil)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("open a session at %s: %w", b.url, err)
	}
	product, _ := conn.Properties()["product"].(string)
	version, _ := conn.Properties()["version"].(string)
	b.log.Info("amqp: connected", "broker", b.url, "product", product, "version", version, "address_syntax", c.dialect.kind, "container_id", b.id)
	return c, nil
}

// serve attaches the ingress receivers on c and runs them until ctx ends,
// the connection drops or a link fails; then it closes c.
func (b *broker) serve(ctx context.Context, c *connection) error {
	defer func() {
		b.cur.CompareAndSwap(c, nil)
		b.m.connected.Set(0)
		_ = c.conn.Close()
	}()
	var rcvs []*amqp.Receiver
	if b.in != nil {
		for i := range b.in.rules {
			r := &b.in.rules[i]
			actx, cancel := context.WithTimeout(ctx, b.cfg.ConnectTimeout)
			rcv, err := b.attach(actx, c, r)
			cancel()
			if err != nil {
				return err
			}
			rcvs = append(rcvs, rcv)
		}
	}
	b.cur.Store(c)
	b.m.connected.Set(1)
	failed := make(chan error, len(rcvs)+1)
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, rcv := range rcvs {
		r := &b.in.rules[i]
		wg.Go(func() {
			attach := func(ctx context.Context) (receiver, error) { return b.attach(ctx, c, r) }
			err := b.in.run(rctx, r, rcv, attach, c.dialect)
			if rctx.Err() == nil {
				failed <- fmt.Errorf("receiver on %q (rule %s): %w", rcv.Address(), r.Name, err)
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case <-c.conn.Done():
		err = c.conn.Err()
		if err == nil {
			err = errors.New("the broker closed the connection")
		}
	case err = <-failed:
	}
	stop()
	_ = c.conn.Close() // ends the receivers' waits
	wg.Wait()
	return err
}

// attach attaches a receiver for rule r on c. Links keep go-amqp's random
// names: a name used again makes RabbitMQ resume the old link's delivery
// count, and a receiver so resumed is never given a message.
func (b *broker) attach(ctx context.Context, c *connection, r *ingressRule) (*amqp.Receiver, error) {
	mode := amqp.ReceiverSettleModeFirst
	rcv, err := c.in.NewReceiver(ctx, c.dialect.link(r.address), &amqp.ReceiverOptions{
		Credit: -1, SettlementMode: &mode, // credit issued by the ingress
	})
	if err != nil {
		return nil, fmt.Errorf("attach a receiver to %q (rule %s): %w", c.dialect.link(r.address), r.Name, err)
	}
	return rcv, nil
}

// Ready reports whether the adapter is connected with its receivers
// attached.
func (b *broker) Ready() error {
	if b.cur.Load() == nil {
		if err := b.lastErr.Load(); err != nil && *err != nil {
			return fmt.Errorf("amqp: not connected to %s: %w", b.url, *err)
		}
		return fmt.Errorf("amqp: not connected to %s", b.url)
	}
	return nil
}

// sender returns the sender link to address on the current connection,
// attaching it when there is none.
func (b *broker) sender(ctx context.Context, address string) (sendLink, dialect, error) {
	c := b.cur.Load()
	if c == nil {
		return nil, dialect{}, fmt.Errorf("not connected to the broker %s", b.url)
	}
	target := c.dialect.link(address)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used++
	if e, ok := c.senders[target]; ok {
		e.lastUse = c.used
		return senderLink{e.link}, c.dialect, nil
	}
	if len(c.senders) >= maxSenders {
		c.evict()
	}
	// Held under c.mu: one attach per address, and attaches are rare.
	// Links keep go-amqp's random names: a name used again after a crash
	// makes RabbitMQ resume the old link's delivery count, and a receiver
	// so resumed is never given a message.
	unsettled := amqp.SenderSettleModeUnsettled
	s, err := c.out.NewSender(ctx, target, &amqp.SenderOptions{SettlementMode: &unsettled})
	if err != nil {
		return nil, c.dialect, err
	}
	c.senders[target] = &linkEntry{link: s, lastUse: c.used}
	return senderLink{s}, c.dialect, nil
}

// forget drops the link to address if it is still l, and closes it.
func (b *broker) forget(address string, l sendLink) {
	c := b.cur.Load()
	if c == nil {
		return
	}
	target := c.dialect.link(address)
	c.mu.Lock()
	e, ok := c.senders[target]
	drop := ok && (senderLink{e.link}) == l
	if drop {
		delete(c.senders, target)
	}
	c.mu.Unlock()
	if drop {
		// The link failed already: its close needs no long wait.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = e.link.Close(ctx)
		cancel()
	}
}

// evict closes the least recently used sender link; c.mu is held.
func (c *connection) evict() {
	var oldest string
	var at uint64 = ^uint64(0)
	for t, e := range c.senders {
		if e.lastUse < at {
			oldest, at = t, e.lastUse
		}
	}
	if e, ok := c.senders[oldest]; ok {
		delete(c.senders, oldest)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = e.link.Close(ctx)
		cancel()
	}
}
