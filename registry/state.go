package registry

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Reference names a schema registered under another subject whose named
// types a schema uses (Confluent's "references").
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaEntry is one schema id: the text is the same under every subject
// that registered it.
type schemaEntry struct {
	id         int
	schema     string
	schemaType string
	refs       []Reference
}

// versionEntry is one version of a subject.
type versionEntry struct {
	version  int
	id       int
	deleted  bool
	metadata json.RawMessage
	ruleSet  json.RawMessage
}

// state is the registry's content, rebuilt by applying the _schemas log in
// order. Only apply changes it; every read goes through it, on every
// instance, so that a write is visible once it has been applied.
type state struct {
	logger *slog.Logger

	mu       sync.RWMutex
	schemas  map[int]*schemaEntry
	subjects map[string][]*versionEntry // sorted by version
	config   map[string]string          // "" is the global level
	mode     map[string]string          // "" is the global mode
	maxID    int
	leader   leaderValue
	applied  int64         // offset of the next record to apply
	changed  chan struct{} // closed and replaced on every apply
}

func newState(logger *slog.Logger) *state {
	return &state{
		logger:   logger,
		schemas:  make(map[int]*schemaEntry),
		subjects: make(map[string][]*versionEntry),
		config:   make(map[string]string),
		mode:     make(map[string]string),
		changed:  make(chan struct{}),
	}
}

// apply applies one _schemas record at offset. Records it cannot read are
// logged and skipped: one bad record must not stop a registry from serving
// everything else.
func (s *state) apply(offset int64, key, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.applyLocked(key, value); err != nil {
		s.logger.Warn("skipping unreadable _schemas record", "offset", offset, "key", string(key), "err", err)
	}
	s.applied = offset + 1
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *state) applyLocked(key, value []byte) error {
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
			s.removeVersion(subject, k.Version)
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		return s.putVersion(v)
	case keyConfig:
		if value == nil {
			delete(s.config, subject)
			return nil
		}
		var v configValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		s.config[subject] = v.CompatibilityLevel
	case keyMode:
		if value == nil {
			delete(s.mode, subject)
			return nil
		}
		var v modeValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		s.mode[subject] = v.Mode
	case keyDeleteSubject:
		if value == nil {
			return nil
		}
		var v deleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		for _, ve := range s.subjects[v.Subject] {
			if ve.version <= v.Version {
				ve.deleted = true
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
		s.maxID = max(s.maxID, v.MaxID)
	case keyLeader:
		if value == nil {
			s.leader = leaderValue{}
			return nil
		}
		var v leaderValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		s.leader = v
	case keyNoop:
	default:
		return fmt.Errorf("unknown key type %q", k.KeyType)
	}
	return nil
}

func (s *state) putVersion(v schemaValue) error {
	if v.Subject == "" || v.Version <= 0 || v.ID <= 0 {
		return fmt.Errorf("schema record needs subject, version and id, got %q/%d/%d", v.Subject, v.Version, v.ID)
	}
	if e, ok := s.schemas[v.ID]; ok && e.schema != v.Schema {
		return fmt.Errorf("schema id %d already holds another schema; keeping the first", v.ID)
	}
	if _, ok := s.schemas[v.ID]; !ok {
		st := v.SchemaType
		if st == "" {
			st = schemaTypeAvro
		}
		s.schemas[v.ID] = &schemaEntry{id: v.ID, schema: v.Schema, schemaType: st, refs: v.References}
	}
	s.maxID = max(s.maxID, v.ID)
	vs := s.subjects[v.Subject]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].version >= v.Version })
	ve := &versionEntry{version: v.Version, id: v.ID, deleted: v.Deleted, metadata: v.Metadata, ruleSet: v.RuleSet}
	if i < len(vs) && vs[i].version == v.Version {
		vs[i] = ve
	} else {
		vs = slices.Insert(vs, i, ve)
	}
	s.subjects[v.Subject] = vs
	return nil
}

// removeVersion applies a hard delete; the schema id disappears with its
// last version.
func (s *state) removeVersion(subject string, version int) {
	vs := s.subjects[subject]
	i := slices.IndexFunc(vs, func(ve *versionEntry) bool { return ve.version == version })
	if i < 0 {
		return
	}
	id := vs[i].id
	vs = slices.Delete(vs, i, i+1)
	if len(vs) == 0 {
		delete(s.subjects, subject)
	} else {
		s.subjects[subject] = vs
	}
	for _, other := range s.subjects {
		for _, ve := range other {
			if ve.id == id {
				return
			}
		}
	}
	delete(s.schemas, id)
}

// waitCh returns the offset applied so far and a channel closed at the next
// apply, for waiting without polling.
func (s *state) waitCh() (int64, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied, s.changed
}

// Read helpers below expect s.mu held (read or write).

// versions returns the subject's versions, without soft-deleted ones unless
// deleted is set.
func (s *state) versions(subject string, deleted bool) []*versionEntry {
	var out []*versionEntry
	for _, ve := range s.subjects[subject] {
		if deleted || !ve.deleted {
			out = append(out, ve)
		}
	}
	return out
}

func (s *state) subjectNames(prefix string, deleted bool) []string {
	var out []string
	for name := range s.subjects {
		if strings.HasPrefix(name, prefix) && len(s.versions(name, deleted)) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// referencedBy lists the ids of live schemas that reference subject/version.
func (s *state) referencedBy(subject string, version int) []int {
	var ids []int
	for _, e := range s.schemas {
		for _, r := range e.refs {
			if r.Subject == subject && r.Version == version && s.idLive(e.id) {
				ids = append(ids, e.id)
				break
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// idLive reports whether some non-deleted version uses id.
func (s *state) idLive(id int) bool {
	for _, vs := range s.subjects {
		for _, ve := range vs {
			if ve.id == id && !ve.deleted {
				return true
			}
		}
	}
	return false
}

// compatibility returns the effective level for subject.
func (s *state) compatibility(subject string) string {
	if l, ok := s.config[subject]; ok && subject != "" {
		return l
	}
	if l, ok := s.config[""]; ok {
		return l
	}
	return defaultCompatibility
}

func (s *state) modeOf(subject string) string {
	if m, ok := s.mode[subject]; ok && subject != "" {
		return m
	}
	if m, ok := s.mode[""]; ok {
		return m
	}
	return ModeReadWrite
}
