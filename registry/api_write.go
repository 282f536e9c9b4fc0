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
	id, position, err := r.registerSchema(req.Context(), subject, sr, boolParam(req, "normalize"))
	if err != nil {
		writeErr(w, err)
		return
	}
	written(w, position, map[string]int{"id": id})
}

// registerSchema registers sr under subject, or returns the id it already
// has there, with the position of the answer (see store.update). The plan
// and the write are one store.update, so the id and version it computes
// cannot be taken by a concurrent request.
func (r *Registry) registerSchema(ctx context.Context, subject string, sr schemaRequest, normalize bool) (int, int64, error) {
	var id int
	var wrote bool
	position, err := r.store.update(ctx, func(v *view) ([]logRecord, error) {
		rec, got, err := v.planRegister(subject, &sr, normalize)
		if err != nil || rec == nil {
			id = got
			return nil, err
		}
		id, wrote = got, true
		return []logRecord{*rec}, nil
	})
	if err != nil {
		return 0, 0, err
	}
	if wrote {
		r.metrics.registered.Inc()
	}
	return id, position, nil
}

// planRegister decides what a registration writes: nil when the schema is
// already the subject's (its id is returned), or the SCHEMA record to write.
func (v *view) planRegister(subject string, sr *schemaRequest, normalize bool) (*logRecord, int, error) {
	mode := v.modeOf(subject)
	if mode == ModeReadOnly {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	if (sr.ID != 0 || sr.Version != 0) && mode != ModeImport {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted,
			"Registering with a given id or version is only allowed in IMPORT mode; subject %s is in %s mode", subject, mode)
	}
	s, err := v.parse(sr, normalize)
	if err != nil {
		return nil, 0, err
	}
	if ve := v.findEquivalent(subject, s, sr.References, false); ve != nil && mode != ModeImport {
		return nil, ve.id, nil
	}
	if mode != ModeImport {
		if ins := v.check(subject, s, nil); len(ins) > 0 {
			return nil, 0, &APIError{Status: http.StatusConflict, Code: codeIncompatible, Message: fmt.Sprintf(
				"Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]",
				subject, strings.Join(compatibilityMessages(ins), "; "))}
		}
	}
	id := sr.ID
	switch {
	case id == 0:
		if id = v.findID(s, sr.References); id == 0 {
			id = v.maxID() + 1
		}
	default:
		if e := v.schema(id); e != nil {
			if k, err := v.keyOf(id); err != nil || k != avrocompat.EquivalenceKey(s) || !sameRefs(e.refs, sr.References) {
				return nil, 0, apiErr(http.StatusUnprocessableEntity, codeIDInUse,
					"Overwrite new schema with id %d is not permitted: the id holds another schema", id)
			}
		}
	}
	version := sr.Version
	all := v.history(subject)
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
	if e := v.schema(id); e != nil {
		text = e.schema // the same id always carries the same text
	}
	return &logRecord{key: schemaKey(subject, version), value: schemaValue{
		Subject: subject, Version: version, ID: id, References: sr.References,
		Metadata: sr.Metadata, RuleSet: sr.RuleSet, Schema: text,
	}}, id, nil
}

// check returns the incompatibilities of s with subject's versions under
// its level; against only the given version when one is named.
func (v *view) check(subject string, s avro.Schema, only *versionEntry) []avrocompat.Incompatibility {
	level, err := avrocompat.ParseLevel(v.compatibility(subject))
	if err != nil || level == avrocompat.None {
		return nil
	}
	vs := v.versions(subject, false)
	if only != nil {
		vs = []*versionEntry{only}
	}
	existing := make([]avrocompat.Version, 0, len(vs))
	for _, ve := range vs {
		p, err := v.parsedByID(ve.id)
		if err != nil {
			v.logger.Warn("skipping unparseable version in compatibility check", "subject", subject, "version", ve.version, "err", err)
			continue
		}
		existing = append(existing, avrocompat.Version{Version: ve.version, Schema: p.schema})
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
	version, normalize, verbose := req.PathValue("version"), boolParam(req, "normalize"), boolParam(req, "verbose")
	r.answer(w, func(v *view) (any, error) {
		var only *versionEntry
		if version != "" {
			ve, err := v.findVersion(subject, version, false)
			if err != nil {
				return nil, err
			}
			only = ve
		}
		s, err := v.parse(&sr, normalize)
		if err != nil {
			return nil, err
		}
		ins := v.check(subject, s, only)
		resp := map[string]any{"is_compatible": len(ins) == 0}
		if verbose {
			resp["messages"] = append([]string{}, compatibilityMessages(ins)...)
		}
		return resp, nil
	})
}

func (r *Registry) deleteSubject(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	permanent := boolParam(req, "permanent")
	var versions []int
	position, err := r.store.update(req.Context(), func(v *view) (recs []logRecord, err error) {
		recs, versions, err = v.planDeleteSubject(subject, permanent)
		return recs, err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	written(w, position, versions)
}

func (v *view) planDeleteSubject(subject string, permanent bool) ([]logRecord, []int, error) {
	if v.modeOf(subject) == ModeReadOnly {
		return nil, nil, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	all := v.history(subject)
	if len(all) == 0 {
		return nil, nil, errSubjectNotFound(subject)
	}
	live := v.versions(subject, false)
	var recs []logRecord
	var versions []int
	for _, ve := range all {
		if ids := v.referencedBy(subject, ve.version); len(ids) > 0 {
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
			sv := v.subjectVersion(subject, ve)
			recs = append(recs, logRecord{key: schemaKey(subject, ve.version), value: deletedValue(sv)})
		}
		recs = append(recs, logRecord{key: deleteSubjectKey(subject), value: deleteSubjectValue{Subject: subject, Version: live[len(live)-1].version}})
		return recs, versions, nil
	}
	if len(live) > 0 {
		return nil, nil, apiErr(http.StatusNotFound, codeSubjectNotSoftDeleted,
			"Subject '%s' was not deleted first before being permanently deleted", subject)
	}
	recs = append(recs, v.maxIDRecord())
	for _, ve := range all {
		versions = append(versions, ve.version)
		recs = append(recs, logRecord{key: schemaKey(subject, ve.version)})
	}
	recs = append(recs, logRecord{key: configKey(subject)}, logRecord{key: modeKey(subject)}, logRecord{key: deleteSubjectKey(subject)})
	return recs, versions, nil
}

// maxIDRecord preserves the highest id ever assigned before a hard delete
// may remove the record that carried it, so ids are never reused.
func (v *view) maxIDRecord() logRecord {
	return logRecord{key: maxIDKey(), value: maxIDValue{MaxID: v.maxID()}}
}

func deletedValue(sv subjectVersion) schemaValue {
	st := sv.SchemaType
	return schemaValue{Subject: sv.Subject, Version: sv.Version, ID: sv.ID, SchemaType: st, References: sv.References,
		Metadata: sv.Metadata, RuleSet: sv.RuleSet, Schema: sv.Schema, Deleted: true}
}

func (r *Registry) deleteVersion(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	permanent := boolParam(req, "permanent")
	var version int
	position, err := r.store.update(req.Context(), func(v *view) (recs []logRecord, err error) {
		recs, version, err = v.planDeleteVersion(subject, req.PathValue("version"), permanent)
		return recs, err
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	written(w, position, version)
}

func (v *view) planDeleteVersion(subject, version string, permanent bool) ([]logRecord, int, error) {
	if v.modeOf(subject) == ModeReadOnly {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	ve, err := v.findVersion(subject, version, true)
	if err != nil {
		return nil, 0, err
	}
	if ids := v.referencedBy(subject, ve.version); len(ids) > 0 {
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
		return []logRecord{v.maxIDRecord(), {key: schemaKey(subject, ve.version)}}, ve.version, nil
	}
	sv := v.subjectVersion(subject, ve)
	return []logRecord{{key: schemaKey(subject, ve.version), value: deletedValue(sv)}}, ve.version, nil
}
