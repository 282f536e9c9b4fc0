package traceindex

import (
	"encoding/binary"
	"time"

	"github.com/meshwork/meshwork/trace"
)

// Key prefixes (see the package documentation).
const (
	prefixEvent  = 'e'
	prefixTrace  = 't'
	prefixTopic  = 'p'
	prefixOffset = 'o'
)

// bucketOf is the start of the bucket of t, in Unix seconds.
func (ix *Index) bucketOf(t time.Time) uint64 {
	w := int64(ix.cfg.Bucket / time.Second)
	s := t.Unix()
	if s < 0 {
		s = 0
	}
	return uint64(s - s%w)
}

// buckets lists the buckets a lookup at now reads: every one that may
// hold a hop not yet dropped, and the next (a sender's clock ahead).
func (ix *Index) buckets(now time.Time) []uint64 {
	first := ix.bucketOf(now.Add(-ix.cfg.Retention - ix.cfg.Bucket))
	last := ix.bucketOf(now.Add(ix.cfg.Bucket))
	w := uint64(ix.cfg.Bucket / time.Second)
	var out []uint64
	for b := first; b <= last; b += w {
		out = append(out, b)
	}
	return out
}

func appendBucket(k []byte, prefix byte, bucket uint64) []byte {
	k = append(k, prefix)
	return binary.BigEndian.AppendUint64(k, bucket)
}

// eventPrefix is the prefix of every hop key of id in bucket.
func eventPrefix(bucket uint64, id string) []byte {
	k := appendBucket(make([]byte, 0, 10+len(id)+24), prefixEvent, bucket)
	return append(append(k, id...), 0)
}

// hopKey is the key of hop h, the index-th of the record at
// (partition, offset) of _mesh.trace: unique, and the same when the
// record is read again, so that reading again overwrites.
func hopKey(bucket uint64, h trace.Hop, partition int32, offset int64, index int) []byte {
	k := eventPrefix(bucket, h.EventID)
	k = binary.BigEndian.AppendUint64(k, uint64(max(h.Time.UnixMilli(), 0)))
	k = append(k, byte(h.Action))
	k = binary.BigEndian.AppendUint32(k, uint32(partition))
	k = binary.BigEndian.AppendUint64(k, uint64(offset))
	return binary.BigEndian.AppendUint16(k, uint16(index))
}

func traceKey(bucket uint64, traceID, eventID string) []byte {
	k := appendBucket(make([]byte, 0, 10+len(traceID)+1+len(eventID)), prefixTrace, bucket)
	return append(append(append(k, traceID...), 0), eventID...)
}

func tracePrefix(bucket uint64, traceID string) []byte {
	k := appendBucket(nil, prefixTrace, bucket)
	return append(append(k, traceID...), 0)
}

func topicPrefix(bucket uint64, topic string) []byte {
	k := appendBucket(make([]byte, 0, 10+len(topic)+9), prefixTopic, bucket)
	return append(append(k, topic...), 0)
}

func topicKey(bucket uint64, topic string, at time.Time, eventID string) []byte {
	k := topicPrefix(bucket, topic)
	k = binary.BigEndian.AppendUint64(k, uint64(max(at.UnixMilli(), 0)))
	return append(k, eventID...)
}

func offsetKey(partition int32) []byte {
	return binary.BigEndian.AppendUint32([]byte{prefixOffset}, uint32(partition))
}
