package mqtt

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
)

// sender publishes the records of one egress rule to MQTT.
type sender struct {
	a    *Adapter
	rule egressRule
}

// Send publishes r to the MQTT topic the rule renders for it. A record
// this adapter's own ingress produced at this site is skipped: publishing
// it would repeat to MQTT what came from MQTT. A record whose topic is not
// one MQTT can publish to (invalid UTF-8, U+0000, a wildcard, empty, over
// 65535 bytes) is refused before it is published: a broker never
// acknowledges such a PUBLISH (it closes the connection), so waiting for it
// would hold the partition for ever.
func (s *sender) Send(ctx context.Context, r *kgo.Record) adapters.Confirm {
	if s.echo(r) {
		return adapters.Confirmed(adapters.ErrSkip)
	}
	topic := s.topic(r)
	if err := checkPublishTopic(topic); err != nil {
		return adapters.Confirmed(adapters.Permanent(adapters.ReasonTopic, fmt.Errorf("mqtt_topic %q: %w", s.rule.To, err)))
	}
	return s.a.sess.publish(ctx, topic, s.rule.qos, s.rule.retain, r)
}

// echo reports whether r came from this adapter's own ingress at this site.
func (s *sender) echo(r *kgo.Record) bool {
	return adapters.Echo(r, s.a.cfg.Site, s.a.cfg.Broker.ClientID)
}

// topic renders the rule's MQTT topic for r.
func (s *sender) topic(r *kgo.Record) string {
	return s.rule.To.Render(adapters.RecordLookup(r))
}
