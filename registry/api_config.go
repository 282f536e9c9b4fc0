package registry

import (
	"net/http"
	"strings"

	"github.com/meshwork/meshwork/registry/avrocompat"
)

type configRequest struct {
	Compatibility string `json:"compatibility"`
}

// setting is one kind of per-subject setting with a global default:
// compatibility level or mode.
type setting struct {
	field    string // the JSON field GET answers with
	what     string // how errors name it
	notSet   int    // the error code for a subject without its own value
	own      func(v *view, subject string) (string, bool)
	fallback func(v *view) string // the global value, defaults applied
}

var (
	compatibilitySetting = setting{"compatibilityLevel", "compatibility", codeSubjectLevelCompatNotSet,
		(*view).subjectConfig, func(v *view) string { return v.compatibility("") }}
	modeSetting = setting{"mode", "mode", codeSubjectLevelModeNotSet,
		(*view).subjectMode, func(v *view) string { return v.modeOf("") }}
)

// get answers GET /config[/{s}] or /mode[/{s}]: the subject's own value,
// or the global one for the global path or with ?defaultToGlobal=true.
func (st setting) get(r *Registry) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		subject := subjectOf(req)
		toGlobal := subject == "" || boolParam(req, "defaultToGlobal")
		r.answer(w, func(v *view) (any, error) {
			val, ok := st.own(v, subject)
			switch {
			case ok:
			case toGlobal:
				val = st.fallback(v)
			default:
				return nil, errSubjectLevelNotSet(st.notSet, subject, st.what)
			}
			return map[string]string{st.field: val}, nil
		})
	}
}

func (r *Registry) putConfig(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var cr configRequest
	if err := decodeBody(req, &cr); err != nil {
		writeErr(w, err)
		return
	}
	if subject != "" && !validSubject(subject) {
		writeErr(w, errInvalidSubject(subject))
		return
	}
	level, err := avrocompat.ParseLevel(cr.Compatibility)
	if err != nil {
		writeErr(w, errInvalidCompatibility())
		return
	}
	rec := logRecord{key: configKey(subject), value: configValue{CompatibilityLevel: string(level)}}
	position, err := r.store.update(req.Context(), func(*view) ([]logRecord, error) { return []logRecord{rec}, nil })
	if err != nil {
		writeErr(w, err)
		return
	}
	written(w, position, map[string]string{"compatibility": string(level)})
}

func (r *Registry) deleteConfig(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var old string
	position, err := r.store.update(req.Context(), func(v *view) ([]logRecord, error) {
		l, ok := v.subjectConfig(subject)
		if !ok && subject != "" {
			return nil, errSubjectNotFound(subject)
		}
		if !ok {
			l = v.compatibility(subject)
		}
		old = l
		return []logRecord{{key: configKey(subject)}}, nil
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	written(w, position, map[string]string{"compatibilityLevel": old})
}

type modeRequest struct {
	Mode string `json:"mode"`
}

func (r *Registry) putMode(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var mr modeRequest
	if err := decodeBody(req, &mr); err != nil {
		writeErr(w, err)
		return
	}
	if subject != "" && !validSubject(subject) {
		writeErr(w, errInvalidSubject(subject))
		return
	}
	mode := strings.ToUpper(mr.Mode)
	switch mode {
	case ModeReadWrite, ModeReadOnly, ModeImport:
	default:
		writeErr(w, errInvalidMode())
		return
	}
	force := boolParam(req, "force")
	position, err := r.store.update(req.Context(), func(v *view) ([]logRecord, error) {
		recs := []logRecord{{key: modeKey(subject), value: modeValue{Mode: mode}}}
		if mode == ModeImport && !force && v.modeOf(subject) != ModeImport {
			clear, err := v.planImport(subject)
			if err != nil {
				return nil, err
			}
			recs = append(clear, recs...)
		}
		return recs, nil
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	written(w, position, map[string]string{"mode": mode})
}

// planImport is what switching to IMPORT mode (without force) takes, as in
// Confluent's registry: no live version under the subject (every subject
// for the global mode), else 42205; the soft-deleted versions left are
// hard-deleted, so imported versions do not collide with them, unless a
// schema still references one (42206).
func (v *view) planImport(subject string) ([]logRecord, error) {
	subjects := []string{subject}
	if subject == "" {
		subjects = v.subjectNames("", true)
	}
	var recs []logRecord
	for _, s := range subjects {
		if len(v.versions(s, false)) > 0 {
			return nil, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Cannot import since found existing subjects")
		}
		for _, ve := range v.history(s) {
			if len(v.referencedBy(s, ve.version, true)) > 0 {
				return nil, errReferenceExists(s, ve.version)
			}
			recs = append(recs, logRecord{key: schemaKey(s, ve.version)})
		}
	}
	if len(recs) > 0 {
		recs = append([]logRecord{v.maxIDRecord()}, recs...)
	}
	return recs, nil
}

func (r *Registry) deleteMode(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var old string
	position, err := r.store.update(req.Context(), func(v *view) ([]logRecord, error) {
		m, ok := v.subjectMode(subject)
		if !ok {
			return nil, errSubjectNotFound(subject)
		}
		old = m
		return []logRecord{{key: modeKey(subject)}}, nil
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	written(w, position, map[string]string{"mode": old})
}
