package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hamba/avro/v2"
)

// Reference names a schema registered under another subject whose named
// types a schema uses (Confluent's "references").
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaEntry is one schema id: the text is the same under every subject
// that registered it. Apply never changes an entry once it is in the state
// (a hard delete drops it), so an entry may be used after the read lock is
// released.
type schemaEntry struct {
	id         int
	schema     string
	schemaType string
	refs       []Reference

	// parsed caches the parsed schema and its equivalence key. Readers fill
	// it under the state's read lock, so possibly several at once, hence
	// the atomic. The cache lives and dies with the entry: an id that is
	// hard-deleted and then imported again with another text gets a new
	// entry and is parsed afresh.
	parsed atomic.Pointer[parsedSchema]
}

type parsedSchema struct {
	schema avro.Schema
	key    string // avrocompat.EquivalenceKey of schema
}

// versionEntry is one version of a subject. Like schemaEntry, it never
// changes once applied: apply replaces it (a soft delete puts a copy
// marked deleted).
type versionEntry struct {
	version  int
	id       int
	deleted  bool
	metadata json.RawMessage
	ruleSet  json.RawMessage
}

// state is the registry's content, rebuilt by applying the _schemas log in
// order, and the one owner of its lock: apply takes it to write, read and
// await take it to read, and nothing else touches it. Every read goes
// through the state, on every instance, so that a write is visible once it
// has been applied.
type state struct {
	logger  *slog.Logger
	mu      sync.RWMutex // guards content and changed
	content content
	changed chan struct{} // closed and replaced on every apply
	view    view          // the view read passes; points at content
}

// content is what the log builds. Only apply changes it, under the
// state's write lock; readers see it through a view.
type content struct {
	schemas map[int]*schemaEntry
	// gone holds the ids whose every version was hard-deleted: they are
	// no longer served, but registering the same schema again gets its
	// old id back, as in Confluent's registry (whose lookup cache keeps
	// them), so data written with it stays readable.
	gone     map[int]*schemaEntry
	subjects map[string][]*versionEntry // sorted by version
	config   map[string]string          // "" is the global level
	mode     map[string]string          // "" is the global mode
	maxID    int
	leader   leaderValue
	applied  int64 // offset of the next record to apply
	position int64 // of the newest write mark applied; 0: none yet
}

func newState(logger *slog.Logger) *state {
	s := &state{
		logger: logger,
		content: content{
			schemas:  make(map[int]*schemaEntry),
			gone:     make(map[int]*schemaEntry),
			subjects: make(map[string][]*versionEntry),
			config:   make(map[string]string),
			mode:     make(map[string]string),
		},
		changed: make(chan struct{}),
	}
	s.view = view{c: &s.content, logger: logger}
	return s
}

// read runs f under the state's read lock with a view of the content. f
// must not keep the view, nor the slices its methods return, past its
// return; entries (*schemaEntry, *versionEntry) it may keep, as they never
// change. f must not block on anything but the state (no network writes),
// or it holds up apply and, behind it, every other reader.
func (s *state) read(f func(v *view)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(&s.view)
}

// await blocks until cond holds for the state, checking it again after
// every applied record, or until ctx ends or done closes (then it returns
// errClosing).
func (s *state) await(ctx context.Context, done <-chan struct{}, cond func(v *view) bool) error {
	for {
		s.mu.RLock()
		ok, ch := cond(&s.view), s.changed
		s.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return errClosing
		}
	}
}

// apply applies one _schemas record at offset. Records it cannot read are
// logged and skipped: one bad record must not stop a registry from serving
// everything else.
func (s *state) apply(offset int64, key, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.content
	if err := c.apply(key, value); err != nil {
		s.logger.Warn("skipping unreadable _schemas record", "offset", offset, "key", string(key), "err", err)
	}
	c.applied = offset + 1
	close(s.changed)
	s.changed = make(chan struct{})
}

// The methods of content below change it: call them only from
// state.apply, with the write lock held.

func (c *content) apply(key, value []byte) error {
	var k logKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("key: %w", err)
	}
	subject := ""
	if k.Subject != nil {
		subject = *k.Subject
	}
	switch k.KeyType {
	case keySchema:
		if value == nil {
			c.removeVersion(subject, k.Version)
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		return c.putVersion(v)
	case keyConfig:
		if value == nil {
			delete(c.config, subject)
			return nil
		}
		var v configValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		c.config[subject] = v.CompatibilityLevel
	case keyMode:
		if value == nil {
			delete(c.mode, subject)
			return nil
		}
		var v modeValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		c.mode[subject] = v.Mode
	case keyDeleteSubject:
		if value == nil {
			return nil
		}
		var v deleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		for i, ve := range c.subjects[v.Subject] {
			if ve.version <= v.Version && !ve.deleted {
				marked := *ve
				marked.deleted = true
				c.subjects[v.Subject][i] = &marked
			}
		}
	case keyMaxID:
		if value == nil {
			return nil
		}
		var v maxIDValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		if v.MaxID > maxSchemaID {
			return fmt.Errorf("max id %d is beyond %d; ignoring it", v.MaxID, maxSchemaID)
		}
		c.maxID = max(c.maxID, v.MaxID)
	case keyLeader:
		if value == nil {
			c.leader = leaderValue{}
			return nil
		}
		var v leaderValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		c.leader = v
	case keyNoop:
		if value == nil {
			return nil
		}
		var v writeMark
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		c.position = max(c.position, v.Position)
	default:
		return fmt.Errorf("unknown key type %q", k.KeyType)
	}
	return nil
}

func (c *content) putVersion(v schemaValue) error {
	if v.Subject == "" || v.Version <= 0 || v.ID <= 0 {
		return fmt.Errorf("schema record needs subject, version and id, got %q/%d/%d", v.Subject, v.Version, v.ID)
	}
	if v.ID > maxSchemaID || v.Version > maxSchemaID {
		// Written by a registry that let IMPORT take any id: no client can
		// hold it, and counting it would push every later id past 2^31-1.
		return fmt.Errorf("schema record of %s version %d has id %d, beyond %d; skipping it", v.Subject, v.Version, v.ID, maxSchemaID)
	}
	if e, ok := c.schemas[v.ID]; ok && e.schema != v.Schema {
		return fmt.Errorf("schema id %d already holds another schema; keeping the first", v.ID)
	}
	delete(c.gone, v.ID)
	if _, ok := c.schemas[v.ID]; !ok {
		st := v.SchemaType
		if st == "" {
			st = schemaTypeAvro
		}
		c.schemas[v.ID] = &schemaEntry{id: v.ID, schema: v.Schema, schemaType: st, refs: v.References}
	}
	c.maxID = max(c.maxID, v.ID)
	vs := c.subjects[v.Subject]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].version >= v.Version })
	ve := &versionEntry{version: v.Version, id: v.ID, deleted: v.Deleted, metadata: v.Metadata, ruleSet: v.RuleSet}
	if i < len(vs) && vs[i].version == v.Version {
		vs[i] = ve
	} else {
		vs = slices.Insert(vs, i, ve)
	}
	c.subjects[v.Subject] = vs
	return nil
}

// removeVersion applies a hard delete; the schema id disappears with its
// last version, kept aside in gone with its parse cache.
func (c *content) removeVersion(subject string, version int) {
	vs := c.subjects[subject]
	i := slices.IndexFunc(vs, func(ve *versionEntry) bool { return ve.version == version })
	if i < 0 {
		return
	}
	id := vs[i].id
	vs = slices.Delete(vs, i, i+1)
	if len(vs) == 0 {
		delete(c.subjects, subject)
	} else {
		c.subjects[subject] = vs
	}
	for _, other := range c.subjects {
		for _, ve := range other {
			if ve.id == id {
				return
			}
		}
	}
	c.gone[id] = c.schemas[id]
	delete(c.schemas, id)
}
