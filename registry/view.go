package registry

import (
	"log/slog"
	"slices"
	"strings"
)

// view is the state's content as seen under its read lock: the read
// helpers are its methods, and the only way to them is state.read (for
// handlers) or a planner given to store.update (for writes). It is valid
// only inside that function; it locks nothing itself.
type view struct {
	c      *content
	logger *slog.Logger
}

// schema returns the entry of id, or nil.
func (v *view) schema(id int) *schemaEntry { return v.c.schemas[id] }

// schemaOrGone returns the entry of id, hard-deleted or not, or nil.
func (v *view) schemaOrGone(id int) *schemaEntry {
	if e := v.c.schemas[id]; e != nil {
		return e
	}
	return v.c.gone[id]
}

// history returns every version of subject, soft-deleted ones included,
// sorted by version. The slice is the state's own: do not change it or
// keep it.
func (v *view) history(subject string) []*versionEntry { return v.c.subjects[subject] }

// versions returns the subject's versions, without soft-deleted ones unless
// deleted is set.
func (v *view) versions(subject string, deleted bool) []*versionEntry {
	var out []*versionEntry
	for _, ve := range v.c.subjects[subject] {
		if deleted || !ve.deleted {
			out = append(out, ve)
		}
	}
	return out
}

func (v *view) subjectNames(prefix string, deleted bool) []string {
	var out []string
	for name := range v.c.subjects {
		if strings.HasPrefix(name, prefix) && len(v.versions(name, deleted)) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// referencedBy lists the ids of schemas that reference subject/version:
// those of live versions, and with deleted those of soft-deleted ones too.
func (v *view) referencedBy(subject string, version int, deleted ...bool) []int {
	withDeleted := len(deleted) > 0 && deleted[0]
	var ids []int
	for _, e := range v.c.schemas {
		for _, r := range e.refs {
			if r.Subject == subject && r.Version == version && (withDeleted || v.idLive(e.id)) {
				ids = append(ids, e.id)
				break
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// idLive reports whether some non-deleted version uses id.
func (v *view) idLive(id int) bool {
	for _, vs := range v.c.subjects {
		for _, ve := range vs {
			if ve.id == id && !ve.deleted {
				return true
			}
		}
	}
	return false
}

// subjectConfig returns the level set on subject itself ("" is the global
// level), without defaults.
func (v *view) subjectConfig(subject string) (string, bool) {
	l, ok := v.c.config[subject]
	return l, ok
}

// subjectMode returns the mode set on subject itself ("" is the global
// mode), without defaults.
func (v *view) subjectMode(subject string) (string, bool) {
	m, ok := v.c.mode[subject]
	return m, ok
}

// compatibility returns the effective level for subject.
func (v *view) compatibility(subject string) string {
	if l, ok := v.c.config[subject]; ok && subject != "" {
		return l
	}
	if l, ok := v.c.config[""]; ok {
		return l
	}
	return defaultCompatibility
}

// modeOf returns the effective mode for subject.
func (v *view) modeOf(subject string) string {
	if m, ok := v.c.mode[subject]; ok && subject != "" {
		return m
	}
	if m, ok := v.c.mode[""]; ok {
		return m
	}
	return ModeReadWrite
}

// maxID returns the highest schema id ever assigned.
func (v *view) maxID() int { return v.c.maxID }

// leaderURL returns the URL of the writer announced in the log.
func (v *view) leaderURL() string { return v.c.leader.URL }

// nextOffset returns the offset of the next record of the log to apply.
func (v *view) nextOffset() int64 { return v.c.applied }

// position returns the position of the newest write applied (see
// writeMark); 0 before the first.
func (v *view) position() int64 { return v.c.position }

func (v *view) numSchemas() int  { return len(v.c.schemas) }
func (v *view) numSubjects() int { return len(v.c.subjects) }
