package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/meshwork/meshwork/registry/avrocompat"
)

// Modes.
const (
	ModeReadWrite = "READWRITE"
	ModeReadOnly  = "READONLY"
	ModeImport    = "IMPORT"
)

const defaultCompatibility = string(avrocompat.Backward)

func (r *Registry) register(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	if subject == "" {
		writeErr(w, apiErr(http.StatusUnprocessableEntity, 422, "The subject must not be empty"))
		return
	}
	var sr schemaRequest
	if err := decodeBody(req, &sr); err != nil {
		writeErr(w, err)
		return
	}
	id, err := r.registerSchema(req.Context(), subject, sr, boolParam(req, "normalize"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"id": id})
}

// registerSchema registers sr under subject, or returns the id it already
// has there. Writes are serialized, so the id and version it computes from
// the state cannot be taken by a concurrent request.
func (r *Registry) registerSchema(ctx context.Context, subject string, sr schemaRequest, normalize bool) (int, error) {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	rec, id, err := r.planRegister(subject, &sr, normalize)
	if err != nil || rec == nil {
		return id, err
	}
	if err := r.store.writeLocked(ctx, *rec); err != nil {
		return 0, errStore(err)
	}
	r.metrics.registered.Inc()
	return id, nil
}

// planRegister decides what a registration writes: nil when the schema is
// already the subject's (its id is returned), or the SCHEMA record to write.
func (r *Registry) planRegister(subject string, sr *schemaRequest, normalize bool) (*logRecord, int, error) {
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	mode := r.state.modeOf(subject)
	if mode == ModeReadOnly {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	if (sr.ID != 0 || sr.Version != 0) && mode != ModeImport {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted,
			"Registering with a given id or version is only allowed in IMPORT mode; subject %s is in %s mode", subject, mode)
	}
	s, err := r.parse(sr, normalize)
	if err != nil {
		return nil, 0, err
	}
	if ve := r.findEquivalent(subject, s, sr.References, false); ve != nil && mode != ModeImport {
		return nil, ve.id, nil
	}
	if mode != ModeImport {
		if ins := r.check(subject, s, nil); len(ins) > 0 {
			return nil, 0, &APIError{Status: http.StatusConflict, Code: codeIncompatible, Message: fmt.Sprintf(
				"Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]",
				subject, strings.Join(compatibilityMessages(ins), "; "))}
		}
	}
	id := sr.ID
	switch {
	case id == 0:
		if id = r.findID(s, sr.References); id == 0 {
			id = r.state.maxID + 1
		}
	default:
		if e, ok := r.state.schemas[id]; ok {
			if k, err := r.keyOf(id); err != nil || k != avrocompat.EquivalenceKey(s) || !sameRefs(e.refs, sr.References) {
				return nil, 0, apiErr(http.StatusUnprocessableEntity, codeIDInUse,
					"Overwrite new schema with id %d is not permitted: the id holds another schema", id)
			}
		}
	}
	version := sr.Version
	all := r.state.subjects[subject]
	if version == 0 {
		version = 1
		if len(all) > 0 {
			version = all[len(all)-1].version + 1
		}
	} else {
		for _, ve := range all {
			if ve.version == version {
				return nil, 0, apiErr(http.StatusUnprocessableEntity, codeInvalidVersion,
					"Version %d of subject %s already exists", version, subject)
			}
		}
	}
	text := sr.Schema
	if e, ok := r.state.schemas[id]; ok {
		text = e.schema // the same id always carries the same text
	}
	return &logRecord{key: schemaKey(subject, version), value: schemaValue{
		Subject: subject, Version: version, ID: id, References: sr.References,
		Metadata: sr.Metadata, RuleSet: sr.RuleSet, Schema: text,
	}}, id, nil
}

// check returns the incompatibilities of s with subject's versions under
// its level; against only the given version when one is named. Call with
// the state read-locked.
func (r *Registry) check(subject string, s avro.Schema, only *versionEntry) []avrocompat.Incompatibility {
	level, err := avrocompat.ParseLevel(r.state.compatibility(subject))
	if err != nil || level == avrocompat.None {
		return nil
	}
	vs := r.state.versions(subject, false)
	if only != nil {
		vs = []*versionEntry{only}
	}
	existing := make([]avrocompat.Version, 0, len(vs))
	for _, ve := range vs {
		p, err := r.parsedByID(ve.id)
		if err != nil {
			r.logger.Warn("skipping unparseable version in compatibility check", "subject", subject, "version", ve.version, "err", err)
			continue
		}
		existing = append(existing, avrocompat.Version{Version: ve.version, Schema: p})
	}
	return avrocompat.Check(level, s, existing)
}

func (r *Registry) checkCompatibility(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var sr schemaRequest
	if err := decodeBody(req, &sr); err != nil {
		writeErr(w, err)
		return
	}
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	var only *versionEntry
	if v := req.PathValue("version"); v != "" {
		ve, err := r.findVersion(subject, v, false)
		if err != nil {
			writeErr(w, err)
			return
		}
		only = ve
	}
	s, err := r.parse(&sr, boolParam(req, "normalize"))
	if err != nil {
		writeErr(w, err)
		return
	}
	ins := r.check(subject, s, only)
	resp := map[string]any{"is_compatible": len(ins) == 0}
	if boolParam(req, "verbose") {
		resp["messages"] = append([]string{}, compatibilityMessages(ins)...)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (r *Registry) deleteSubject(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	permanent := boolParam(req, "permanent")
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	recs, versions, err := r.planDeleteSubject(subject, permanent)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := r.store.writeLocked(req.Context(), recs...); err != nil {
		writeErr(w, errStore(err))
		return
	}
	writeJSON(w, http.StatusOK, versions)
}

func (r *Registry) planDeleteSubject(subject string, permanent bool) ([]logRecord, []int, error) {
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	if r.state.modeOf(subject) == ModeReadOnly {
		return nil, nil, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	all := r.state.subjects[subject]
	if len(all) == 0 {
		return nil, nil, errSubjectNotFound(subject)
	}
	live := r.state.versions(subject, false)
	var recs []logRecord
	var versions []int
	for _, ve := range all {
		if ids := r.state.referencedBy(subject, ve.version); len(ids) > 0 {
			return nil, nil, apiErr(http.StatusUnprocessableEntity, codeReferenceExists,
				"One or more references exist to the schema {subject=%s,version=%d}: ids %v", subject, ve.version, ids)
		}
	}
	if !permanent {
		if len(live) == 0 {
			return nil, nil, apiErr(http.StatusNotFound, codeSubjectSoftDeleted,
				"Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
		}
		for _, ve := range live {
			versions = append(versions, ve.version)
			sv := r.state.subjectVersion(subject, ve)
			recs = append(recs, logRecord{key: schemaKey(subject, ve.version), value: deletedValue(sv)})
		}
		recs = append(recs, logRecord{key: deleteSubjectKey(subject), value: deleteSubjectValue{Subject: subject, Version: live[len(live)-1].version}})
		return recs, versions, nil
	}
	if len(live) > 0 {
		return nil, nil, apiErr(http.StatusNotFound, codeSubjectNotSoftDeleted,
			"Subject '%s' was not deleted first before being permanently deleted", subject)
	}
	recs = append(recs, r.maxIDRecord())
	for _, ve := range all {
		versions = append(versions, ve.version)
		recs = append(recs, logRecord{key: schemaKey(subject, ve.version)})
	}
	recs = append(recs, logRecord{key: configKey(subject)}, logRecord{key: modeKey(subject)}, logRecord{key: deleteSubjectKey(subject)})
	return recs, versions, nil
}

// maxIDRecord preserves the highest id ever assigned before a hard delete
// may remove the record that carried it, so ids are never reused.
func (r *Registry) maxIDRecord() logRecord {
	return logRecord{key: maxIDKey(), value: maxIDValue{MaxID: r.state.maxID}}
}

func deletedValue(sv subjectVersion) schemaValue {
	st := sv.SchemaType
	return schemaValue{Subject: sv.Subject, Version: sv.Version, ID: sv.ID, SchemaType: st, References: sv.References,
		Metadata: sv.Metadata, RuleSet: sv.RuleSet, Schema: sv.Schema, Deleted: true}
}

func (r *Registry) deleteVersion(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	permanent := boolParam(req, "permanent")
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	rec, version, err := r.planDeleteVersion(subject, req.PathValue("version"), permanent)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := r.store.writeLocked(req.Context(), rec...); err != nil {
		writeErr(w, errStore(err))
		return
	}
	writeJSON(w, http.StatusOK, version)
}

func (r *Registry) planDeleteVersion(subject, v string, permanent bool) ([]logRecord, int, error) {
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	if r.state.modeOf(subject) == ModeReadOnly {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	ve, err := r.findVersion(subject, v, true)
	if err != nil {
		return nil, 0, err
	}
	if ids := r.state.referencedBy(subject, ve.version); len(ids) > 0 {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeReferenceExists,
			"One or more references exist to the schema {subject=%s,version=%d}: ids %v", subject, ve.version, ids)
	}
	switch {
	case !permanent && ve.deleted:
		return nil, 0, apiErr(http.StatusNotFound, codeSchemaVersionSoftDeleted,
			"Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, ve.version)
	case permanent && !ve.deleted:
		return nil, 0, apiErr(http.StatusNotFound, codeVersionNotSoftDeleted,
			"Subject '%s' Version %d was not deleted first before being permanently deleted", subject, ve.version)
	case permanent:
		return []logRecord{r.maxIDRecord(), {key: schemaKey(subject, ve.version)}}, ve.version, nil
	}
	sv := r.state.subjectVersion(subject, ve)
	return []logRecord{{key: schemaKey(subject, ve.version), value: deletedValue(sv)}}, ve.version, nil
}
