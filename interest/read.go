package interest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// Leases are the leases of one cluster's Topic at one moment, by key.
type Leases map[string]Lease

// Lease returns the lease with key, expired or not.
func (ls Leases) Lease(key string) (Lease, bool) {
	l, ok := ls[key]
	return l, ok
}

// Sorted returns the leases sorted by key.
func (ls Leases) Sorted() []Lease {
	out := make([]Lease, 0, len(ls))
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		out = append(out, ls[k])
	}
	return out
}

// Read reads Topic of the cluster that clientOpts (seed brokers, TLS, SASL:
// see internal/kafkaclient) reach, from its start to its committed end,
// and returns the leases in it: the last record of each key, tombstoned
// keys removed, records that are not valid leases skipped. It is for
// one-off reads (meshctl, the control plane); a replicator follows the
// topic instead.
func Read(ctx context.Context, clientOpts []kgo.Opt) (Leases, error) {
	cl, err := kgo.NewClient(append(append(slices.Clone(clientOpts), kafkaclient.FollowOptions(Topic)...),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("interest: client to read %s: %w", Topic, err)
	}
	defer cl.Close()
	codec, err := NewCodec()
	if err != nil {
		return nil, err
	}
	out := Leases{}
	err = kafkaclient.ReadToEnd(ctx, cl, Topic, func(recs []*kgo.Record) {
		for _, r := range recs {
			key, l, err := codec.Decode(r)
			switch {
			case err != nil:
			case l == nil:
				delete(out, key)
			default:
				out[key] = *l
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("interest: reading %s: %w; is Kafka reachable?", Topic, err)
	}
	return out, nil
}
