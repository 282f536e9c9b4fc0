package adapters

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/envelope"
)

// HeaderAdapter names the adapter that produced a record from its protocol
// (MQTT client id, AMQP container id). With mesh_origin it lets egress
// recognise its own ingress's records and not send them back where they
// came from.
const HeaderAdapter = "mesh_adapter"

// Echo reports whether r came into Kafka through the adapter named id at
// site: an egress that sent it back would repeat to its protocol what came
// from it.
func Echo(r *kgo.Record, site, id string) bool {
	origin, _ := envelope.Route(r.Headers)
	if origin != site {
		return false
	}
	for _, h := range r.Headers {
		if h.Key == HeaderAdapter {
			return string(h.Value) == id
		}
	}
	return false
}
