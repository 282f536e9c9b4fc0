package serde

import (
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
)

// Defaults, stated once here.
const (
	// DefaultCacheSize bounds each of the Serde's caches (schemas by id,
	// writer schemas by topic and text, latest versions by subject,
	// references by subject and version, unknown ids) in entries.
	DefaultCacheSize = 1024
	// DefaultLatestTTL is how long the latest version of a subject is
	// reused under UseLatest before asking the registry again.
	DefaultLatestTTL = time.Minute
	// DefaultUnknownIDTTL is how long an id the registry did not know is
	// answered from memory with ErrUnknownID before asking again.
	DefaultUnknownIDTTL = 5 * time.Second
)

// Opt configures a Serde; pass options to New.
type Opt interface{ apply(*cfg) }

type opt struct{ fn func(*cfg) }

func (o opt) apply(c *cfg) { o.fn(c) }

type cfg struct {
	strategy     Strategy
	key          bool
	autoRegister bool
	useLatest    bool
	latestTTL    time.Duration
	unknownTTL   time.Duration
	cacheSize    int
	api          avro.API
}

func defaultCfg() cfg {
	return cfg{
		strategy:   TopicNameStrategy,
		latestTTL:  DefaultLatestTTL,
		unknownTTL: DefaultUnknownIDTTL,
		cacheSize:  DefaultCacheSize,
		api:        defaultAPI,
	}
}

// defaultAPI decodes only payloads that validate first (see walk.go), which
// bounds every length and count by the payload's size, so hamba/avro's own
// 1 MiB limit on strings and bytes is lifted: a record as large as Kafka
// accepts decodes.
var defaultAPI = avro.Config{MaxByteSliceSize: -1}.Freeze()

// validate checks the options together; New calls it.
func (c *cfg) validate() error {
	if c.strategy < TopicNameStrategy || c.strategy > TopicRecordNameStrategy {
		return fmt.Errorf("serde: unknown subject name strategy %d", c.strategy)
	}
	if c.cacheSize < 1 {
		return fmt.Errorf("serde: cache size %d, want at least 1", c.cacheSize)
	}
	if c.latestTTL < 0 || c.unknownTTL < 0 {
		return fmt.Errorf("serde: negative cache lifetime (latest %v, unknown id %v)", c.latestTTL, c.unknownTTL)
	}
	if c.api == nil {
		return fmt.Errorf("serde: nil avro.API")
	}
	return nil
}

// SubjectNameStrategy sets how Encode names the subject it looks a schema up
// under (TopicNameStrategy unless set). Decoding never needs a subject: the
// payload names its schema id.
func SubjectNameStrategy(st Strategy) Opt { return opt{func(c *cfg) { c.strategy = st }} }

// Key makes the Serde serialize record keys: under TopicNameStrategy the
// subject is "<topic>-key" instead of "<topic>-value". The other strategies
// do not depend on it, as in Confluent's serializers.
func Key() Opt { return opt{func(c *cfg) { c.key = true }} }

// AutoRegister makes Encode register the writer schema under its subject
// (POST /subjects/{s}/versions) instead of only looking it up (POST
// /subjects/{s}), which fails with ErrNotRegistered when it is not there.
// Off by default: in the mesh, schemas are registered on purpose, with a
// compatibility check, before producers use them.
func AutoRegister(on bool) Opt { return opt{func(c *cfg) { c.autoRegister = on }} }

// UseLatest makes Encode write with the latest version registered under the
// subject (GET /subjects/{s}/versions/latest, reused for LatestTTL) instead of
// the schema text it is given, which then only serves to name the subject
// under the record-name strategies and may be empty under TopicNameStrategy.
// UseLatest takes precedence over AutoRegister.
func UseLatest(on bool) Opt { return opt{func(c *cfg) { c.useLatest = on }} }

// LatestTTL sets how long UseLatest reuses a subject's latest version
// (DefaultLatestTTL unless set); 0 asks the registry on every Encode.
func LatestTTL(d time.Duration) Opt { return opt{func(c *cfg) { c.latestTTL = d }} }

// UnknownIDTTL sets how long an id that the registry did not know is answered
// with ErrUnknownID without asking again (DefaultUnknownIDTTL unless set); 0
// asks every time. A short memory keeps a stream of bad payloads from
// becoming a stream of registry requests, and a short one only, because ids
// registered at the primary site reach other sites' registries a moment
// later.
func UnknownIDTTL(d time.Duration) Opt { return opt{func(c *cfg) { c.unknownTTL = d }} }

// CacheSize bounds each cache of the Serde, in entries (DefaultCacheSize
// unless set). When a cache is full, an arbitrary entry makes room: the keys
// are schema ids and subjects, which are few, so eviction is rare and an LRU
// would buy nothing.
func CacheSize(n int) Opt { return opt{func(c *cfg) { c.cacheSize = n }} }

// AvroAPI sets the hamba/avro API used to marshal and unmarshal, for example
// one with types registered for union resolution or with a different struct
// tag. The default lifts hamba/avro's 1 MiB limit on strings and bytes, which
// is safe because payloads are validated before they are decoded.
func AvroAPI(api avro.API) Opt { return opt{func(c *cfg) { c.api = api }} }
