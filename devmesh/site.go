package devmesh

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// site is one running site: an embedded Kafka cluster and MQTT broker, and
// the mesh's services (units) around them, in the order they started.
type site struct {
	name      string
	sec       *security // nil: an open dev mesh
	kafka     *kfake.Cluster
	mqtt      *broker
	units     []*unit
	endpoints SiteEndpoints
}

func startSite(ctx context.Context, sc SiteConfig, bc BrokerConfig, dir string, sec *security, logger *slog.Logger) (_ *site, err error) {
	s := &site{name: sc.Name, sec: sec}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	kafkaPort := sc.Ports[ServiceKafka]
	if err := portFree(kafkaPort); err != nil {
		return nil, fmt.Errorf("dev mesh: site %s kafka: %w", sc.Name, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(kafkaPort),
		kfake.ClusterID("meshwork-dev-" + sc.Name),
		kfake.DataDir(filepath.Join(dir, "kafka")),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(1),
		kfake.WithLogger(kfakeLogger{logger.With("service", "kafka")}),
	}
	if sec != nil {
		secure, err := sec.kafkaOptions(filepath.Join(dir, "kafka"), logger)
		if err != nil {
			return nil, fmt.Errorf("dev mesh: site %s kafka: %w", sc.Name, err)
		}
		opts = append(opts, secure...)
	}
	s.kafka, err = kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("dev mesh: site %s kafka on port %d: %w", sc.Name, kafkaPort, err)
	}
	s.endpoints.Kafka = s.kafka.ListenAddrs()[0]
	if sec != nil {
		if err := s.createACLs(ctx); err != nil {
			return nil, err
		}
	}

	var auth *mqttAuth
	var mqttTLS *tls.Config
	scheme := "tcp://"
	if sec != nil {
		auth = newMQTTAuth(sec, adapterClientID(sc.Name))
		srv, err := tlsconfig.NewServer(sec.serverTLS(), "tls", tlsconfig.WithLogger(logger))
		if err != nil {
			return nil, fmt.Errorf("dev mesh: site %s mqtt: %w", sc.Name, err)
		}
		mqttTLS, scheme = srv.Config(), "mqtts://"
	}
	s.mqtt, err = startBroker(sc.Name, sc.Ports[ServiceMQTT], filepath.Join(dir, "mqtt"), bc, adapterClientID(sc.Name), auth, mqttTLS, logger.With("service", "mqtt"))
	if err != nil {
		return nil, fmt.Errorf("dev mesh: site %s mqtt: %w", sc.Name, err)
	}
	addr := s.mqtt.addr
	s.endpoints.MQTT = scheme + addr
	logger.Info("site started", "kafka", s.endpoints.Kafka, "mqtt", s.endpoints.MQTT)
	return s, nil
}

// portFree checks that a fixed port can be bound, so that a conflict is
// reported with the port rather than as kfake's generic listen error.
func portFree(port int) error {
	if port == 0 {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d is taken (is another dev mesh or a Kafka broker running? pass -port to pick another): %w", port, err)
	}
	return ln.Close()
}

// start runs svc as the site's service name (see unit).
func (s *site) start(ctx context.Context, name string, svc service.Service, ln net.Listener, logger *slog.Logger) error {
	u, err := startUnit(ctx, name, svc, ln, s.sec, logger)
	if err != nil {
		return fmt.Errorf("dev mesh: site %s: %w", s.name, err)
	}
	s.units = append(s.units, u)
	return nil
}

// unit returns the site's running service name, or nil.
func (s *site) unit(name string) *unit {
	for _, u := range s.units {
		if u.name == name {
			return u
		}
	}
	return nil
}

// close stops the services in the reverse order of their start, then the
// broker and Kafka.
func (s *site) close() error {
	var errs []error
	for i := len(s.units) - 1; i >= 0; i-- {
		errs = append(errs, s.units[i].close())
	}
	s.units = nil
	if s.mqtt != nil {
		errs = append(errs, s.mqtt.close())
		s.mqtt = nil
	}
	if s.kafka != nil {
		s.kafka.Close() // flushes and syncs the data directory
		s.kafka = nil
	}
	return errors.Join(errs...)
}

func (s *site) kafkaReady(ctx context.Context) error { return probe(ctx, s.endpoints.Kafka) }

// mqttReady reports whether the embedded broker serves. It asks the broker
// in the process rather than connecting to it: every probe connection would
// show in its log.
func (s *site) mqttReady(context.Context) error {
	if s.mqtt == nil || s.mqtt.srv.Listeners.Len() == 0 {
		return fmt.Errorf("mqtt broker at %s is not serving", s.endpoints.MQTT)
	}
	return nil
}

// kfakeLogger forwards kfake's warnings and errors to slog; its info level
// logs every request, which is noise in a dev mesh.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		k.l.Error(fmt.Sprintf(format, args...))
	case kfake.LogLevelWarn:
		k.l.Warn(fmt.Sprintf(format, args...))
	}
}

// brokerLog passes on the embedded broker's warnings and errors. The
// broker logs a client's connection that ended badly with an empty
// message (and the error); those get a message, and a client that just
// went away (EOF) is not worth a warning.
type brokerLog struct{ slog.Handler }

func (b brokerLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && b.Handler.Enabled(ctx, l)
}

func (b brokerLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "failed to get data" && keyNotFound(r) {
		return nil // a new session store has no $SYS record yet
	}
	if r.Message != "" {
		return b.Handler.Handle(ctx, r)
	}
	eof := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, io.EOF) {
			eof = true
		}
		return true
	})
	if eof {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, "mqtt: a client connection ended with an error", r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	return b.Handler.Handle(ctx, out)
}

// keyNotFound reports whether r carries the session store's "key not found".
func keyNotFound(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, bolt.ErrKeyNotFound) {
			found = true
		}
		return true
	})
	return found
}

func (b brokerLog) WithAttrs(as []slog.Attr) slog.Handler { return brokerLog{b.Handler.WithAttrs(as)} }
func (b brokerLog) WithGroup(g string) slog.Handler       { return brokerLog{b.Handler.WithGroup(g)} }

// adminClient is the dev mesh's own Kafka client of the site, its
// superuser in a secure dev mesh.
func (s *site) adminClient() (*kgo.Client, error) {
	kc := kafkaclient.Defaults()
	kc.Brokers = []string{s.endpoints.Kafka}
	if s.sec != nil {
		s.sec.kafka(&kc, principalDevMesh)
	}
	return kafkaclient.New(kc, "devmesh-admin", s.name)
}

// createTopics creates topics with one partition if they do not exist.
func (s *site) createTopics(ctx context.Context, topics ...string) error {
	cl, err := s.adminClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, t := range topics {
		if _, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: t, Partitions: 1}); err != nil {
			return fmt.Errorf("dev mesh: site %s: %w", s.name, err)
		}
	}
	return nil
}
