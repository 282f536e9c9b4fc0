package registry

import (
	"context"
	"errors"
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
	if !validSubject(subject) {
		writeErr(w, errInvalidSubject(subject))
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
// It follows Confluent's order: mode, empty schema (taken from the latest
// version when there is one), parse, the same schema already in the
// subject, compatibility, then the id (an existing one for the same
// schema anywhere, else the next) and the version.
func (v *view) planRegister(subject string, sr *schemaRequest, normalize bool) (*logRecord, int, error) {
	mode := v.modeOf(subject)
	if mode == ModeReadOnly {
		return nil, 0, errReadOnly(subject)
	}
	if (sr.ID > 0 || sr.Version > 0) && mode != ModeImport {
		return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted,
			"Registering with a given id or version is only allowed in IMPORT mode; subject %s is in %s mode", subject, mode)
	}
	if strings.TrimSpace(sr.Schema) == "" {
		latest := v.version(subject, 0, true, false)
		if latest == nil {
			return nil, 0, errEmptySchema()
		}
		e := v.schema(latest.id)
		sr.Schema, sr.References = e.schema, e.refs
	}
	s, text, err := v.parse(sr, normalize)
	if err != nil {
		return nil, 0, err
	}
	if ve := v.findEquivalent(subject, text, sr.References, false); ve != nil && (sr.ID <= 0 || int(sr.ID) == ve.id) && sr.Version <= 0 {
		return nil, ve.id, nil
	}
	if mode != ModeImport {
		if ins := v.check(subject, s, nil); len(ins) > 0 {
			return nil, 0, errIncompatible(subject, v.compatibilityMessages(subject, ins))
		}
	}
	id := int(sr.ID)
	switch {
	case id <= 0:
		if id = v.findID(text, sr.References); id == 0 {
			if id = v.maxID() + 1; id > maxSchemaID {
				return nil, 0, apiErr(http.StatusInternalServerError, codeStoreError,
					"Error while registering the schema: every schema id up to %d is taken", maxSchemaID)
			}
		}
	default:
		if e := v.schema(id); e != nil {
			if k, err := v.keyOf(id); err != nil || k != text || !sameRefs(e.refs, sr.References) {
				return nil, 0, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted,
					"Overwrite new schema with id %d in context . is not permitted.", id)
			}
		}
	}
	version := int(sr.Version)
	all := v.history(subject)
	if version <= 0 {
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
	if e := v.schema(id); e != nil {
		text = e.schema // the same id always carries the same text
	}
	return &logRecord{key: schemaKey(subject, version), value: schemaValue{
		Subject: subject, Version: version, ID: id, References: sr.References,
		Metadata: sr.Metadata, RuleSet: sr.RuleSet, Schema: text,
	}}, id, nil
}

// check returns the incompatibilities of s with subject's versions under
// its level; against only the given versions when only is not nil.
func (v *view) check(subject string, s avro.Schema, only []*versionEntry) []avrocompat.Incompatibility {
	level, err := avrocompat.ParseLevel(v.compatibility(subject))
	if err != nil || level == avrocompat.None {
		return nil
	}
	vs := v.versions(subject, false)
	if only != nil {
		vs = only
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

// checkCompatibility answers POST /compatibility/subjects/{s}/versions[/{v}]
// as Confluent does: against a named version that does not exist, 40402
// (40401 never: the subject need not exist); against "latest" of a
// subject without versions, or against all versions of none, compatible.
// With ?verbose=true an invalid schema is an incompatible answer whose
// message says why, not an error.
func (r *Registry) checkCompatibility(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var sr schemaRequest
	if err := decodeBody(req, &sr); err != nil {
		writeErr(w, err)
		return
	}
	version, normalize, verbose := req.PathValue("version"), boolParam(req, "normalize"), boolParam(req, "verbose")
	r.answer(w, func(v *view) (any, error) {
		only := []*versionEntry(nil)
		if version != "" {
			n, latest, err := parseVersion(version)
			if err != nil {
				return nil, err
			}
			ve := v.version(subject, n, latest, false)
			if ve == nil && !latest {
				return nil, errVersionNotFound(n)
			}
			only = []*versionEntry{}
			if ve != nil {
				only = append(only, ve)
			}
		}
		var messages []string
		if strings.TrimSpace(sr.Schema) == "" {
			return nil, errEmptySchema()
		}
		s, _, err := v.parse(&sr, normalize)
		switch {
		case err != nil && !verbose:
			return nil, err
		case err != nil:
			var ae *APIError
			if errors.As(err, &ae) {
				messages = []string{ae.Message}
			} else {
				messages = []string{err.Error()}
			}
		default:
			messages = v.compatibilityMessages(subject, v.check(subject, s, only))
		}
		resp := map[string]any{"is_compatible": len(messages) == 0}
		if verbose {
			resp["messages"] = append([]string{}, messages...)
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

// planDeleteSubject follows Confluent's checks, in its order.
func (v *view) planDeleteSubject(subject string, permanent bool) ([]logRecord, []int, error) {
	if v.modeOf(subject) == ModeReadOnly {
		return nil, nil, errReadOnly(subject)
	}
	all := v.history(subject)
	if len(all) == 0 {
		return nil, nil, errSubjectNotFound(subject)
	}
	live := v.versions(subject, false)
	if !permanent && len(live) == 0 {
		return nil, nil, errSubjectSoftDeleted(subject)
	}
	targets := live
	if permanent {
		targets = all
	}
	for _, ve := range targets {
		for _, id := range v.referencedBy(subject, ve.version) {
			if !v.usedBy(id, subject) {
				return nil, nil, errReferenceExists(subject, ve.version)
			}
		}
		if permanent && !ve.deleted {
			return nil, nil, errSubjectNotSoftDeleted(subject)
		}
	}
	var recs []logRecord
	var versions []int
	if !permanent {
		for _, ve := range live {
			versions = append(versions, ve.version)
			sv := v.subjectVersion(subject, ve)
			recs = append(recs, logRecord{key: schemaKey(subject, ve.version), value: deletedValue(sv)})
		}
		recs = append(recs, logRecord{key: deleteSubjectKey(subject), value: deleteSubjectValue{Subject: subject, Version: live[len(live)-1].version}})
		return recs, versions, nil
	}
	recs = append(recs, v.maxIDRecord())
	for _, ve := range all {
		versions = append(versions, ve.version)
		recs = append(recs, logRecord{key: schemaKey(subject, ve.version)})
	}
	recs = append(recs, logRecord{key: configKey(subject)}, logRecord{key: modeKey(subject)}, logRecord{key: deleteSubjectKey(subject)})
	return recs, versions, nil
}

// usedBy reports whether id is registered under subject only: a reference
// from a subject to itself does not keep the subject from being deleted.
func (v *view) usedBy(id int, subject string) bool {
	for _, u := range v.usesOf(id, true) {
		if u.Subject != subject {
			return false
		}
	}
	return true
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

// planDeleteVersion follows Confluent's checks, in its order: a version
// already soft-deleted (40406, unless permanent), not found (40401 /
// 40402), read-only mode, references, and a permanent delete of a version
// not soft-deleted first (40407). "latest" is the newest live version.
func (v *view) planDeleteVersion(subject, version string, permanent bool) ([]logRecord, int, error) {
	n, latest, err := parseVersion(version)
	if err != nil {
		return nil, 0, err
	}
	if ve := v.version(subject, n, latest, true); ve != nil && ve.deleted && !permanent {
		return nil, 0, errVersionSoftDeleted(subject, ve.version)
	}
	ve, err := v.findVersion(subject, version, true)
	if err != nil {
		return nil, 0, err
	}
	if v.modeOf(subject) == ModeReadOnly {
		return nil, 0, errReadOnly(subject)
	}
	if ids := v.referencedBy(subject, ve.version); len(ids) > 0 {
		return nil, 0, errReferenceExists(subject, ve.version)
	}
	switch {
	case permanent && !ve.deleted:
		return nil, 0, errVersionNotSoftDeleted(subject, ve.version)
	case permanent:
		return []logRecord{v.maxIDRecord(), {key: schemaKey(subject, ve.version)}}, ve.version, nil
	}
	sv := v.subjectVersion(subject, ve)
	return []logRecord{{key: schemaKey(subject, ve.version), value: deletedValue(sv)}}, ve.version, nil
}
