package devmesh

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// The dev mesh's MQTT adapter rules: every MQTT topic (wildcards never
// match $SYS/...) goes into one Kafka topic keyed by the MQTT topic, and
// every record of another Kafka topic goes out to the MQTT topic its key
// names.
const (
	MQTTIngressTopic = "mqtt.ingress"
	MQTTEgressTopic  = "mqtt.egress"
)

// startMQTTAdapter runs the site's MQTT adapter against its embedded broker
// and Kafka cluster.
func (s *site) startMQTTAdapter(ctx context.Context, logger *slog.Logger, metrics prometheus.Registerer) error {
	if err := s.createTopics(ctx, MQTTIngressTopic, MQTTEgressTopic); err != nil {
		return err
	}
	cfg := mqtt.DefaultConfig()
	cfg.Site = s.name
	cfg.Broker.URL = s.endpoints.MQTT
	cfg.Broker.ClientID = "meshwork-mqtt-adapter-" + s.name
	cfg.Broker.ConnectTimeout = 5 * time.Second
	cfg.Kafka.Brokers = []string{s.endpoints.Kafka}
	cfg.Ingress = []mqtt.IngressRule{{Name: "all", Filter: "#", QoS: 1, Topic: MQTTIngressTopic, Key: "{topic}"}}
	cfg.Egress = []mqtt.EgressRule{{Name: "by-key", Topics: []string{MQTTEgressTopic}, QoS: 1, MQTTTopic: "{key}"}}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("dev mesh: site %s mqtt adapter: %w", s.name, err)
	}
	a, err := mqtt.New(cfg, logger.With("service", "mqtt-adapter"), metrics)
	if err != nil {
		return fmt.Errorf("dev mesh: site %s mqtt adapter: %w", s.name, err)
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Close(ctx)
		return fmt.Errorf("dev mesh: site %s mqtt adapter: %w", s.name, err)
	}
	s.adapter = a
	return nil
}

// createTopics creates topics with one partition if they do not exist.
func (s *site) createTopics(ctx context.Context, topics ...string) error {
	kc := kafkaclient.Defaults()
	kc.Brokers = []string{s.endpoints.Kafka}
	cl, err := kafkaclient.New(kc, "devmesh-admin", s.name)
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

func (s *site) closeMQTTAdapter() error {
	if s.adapter == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.adapter.Close(ctx)
	s.adapter = nil
	return err
}
