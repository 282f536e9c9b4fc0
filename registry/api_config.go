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
	values   func(*state) map[string]string
	fallback func(*state) string // the global value, defaults applied
}

var (
	compatibilitySetting = setting{"compatibilityLevel", "compatibility", codeSubjectLevelCompatNotSet,
		func(s *state) map[string]string { return s.config }, func(s *state) string { return s.compatibility("") }}
	modeSetting = setting{"mode", "mode", codeSubjectLevelModeNotSet,
		func(s *state) map[string]string { return s.mode }, func(s *state) string { return s.modeOf("") }}
)

// get answers GET /config[/{s}] or /mode[/{s}]: the subject's own value,
// or the global one for the global path or with ?defaultToGlobal=true.
func (st setting) get(r *Registry) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		subject := subjectOf(req)
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		v, ok := st.values(r.state)[subject]
		switch {
		case ok:
		case subject == "" || boolParam(req, "defaultToGlobal"):
			v = st.fallback(r.state)
		default:
			writeErr(w, apiErr(http.StatusNotFound, st.notSet, "Subject '%s' does not have subject-level %s configured", subject, st.what))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{st.field: v})
	}
}

func (r *Registry) putConfig(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var cr configRequest
	if err := decodeBody(req, &cr); err != nil {
		writeErr(w, err)
		return
	}
	level, err := avrocompat.ParseLevel(cr.Compatibility)
	if err != nil {
		writeErr(w, apiErr(http.StatusUnprocessableEntity, codeInvalidCompatibilityLevel,
			"Invalid compatibility level %q. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE", cr.Compatibility))
		return
	}
	rec := logRecord{key: configKey(subject), value: configValue{CompatibilityLevel: string(level)}}
	if err := r.store.write(req.Context(), rec); err != nil {
		writeErr(w, errStore(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"compatibility": string(level)})
}

func (r *Registry) deleteConfig(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	r.state.mu.RLock()
	old, ok := r.state.config[subject]
	if !ok {
		old = r.state.compatibility(subject)
	}
	r.state.mu.RUnlock()
	if !ok && subject != "" {
		writeErr(w, apiErr(http.StatusNotFound, codeSubjectLevelCompatNotSet,
			"Subject '%s' does not have subject-level compatibility configured", subject))
		return
	}
	if err := r.store.write(req.Context(), logRecord{key: configKey(subject)}); err != nil {
		writeErr(w, errStore(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"compatibilityLevel": old})
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
	mode := strings.ToUpper(mr.Mode)
	switch mode {
	case ModeReadWrite, ModeReadOnly, ModeImport:
	default:
		writeErr(w, apiErr(http.StatusUnprocessableEntity, codeInvalidMode,
			"Invalid mode %q. Valid values are READWRITE, READONLY, IMPORT", mr.Mode))
		return
	}
	if mode == ModeImport && !boolParam(req, "force") {
		r.state.mu.RLock()
		n := len(r.state.subjectNames("", true))
		if subject != "" {
			n = len(r.state.subjects[subject])
		}
		r.state.mu.RUnlock()
		if n > 0 {
			writeErr(w, apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted,
				"Cannot import since found existing subjects; set force=true to switch to IMPORT mode anyway"))
			return
		}
	}
	if err := r.store.write(req.Context(), logRecord{key: modeKey(subject), value: modeValue{Mode: mode}}); err != nil {
		writeErr(w, errStore(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mode": mode})
}

func (r *Registry) deleteMode(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	r.state.mu.RLock()
	old, ok := r.state.mode[subject]
	r.state.mu.RUnlock()
	if !ok {
		writeErr(w, apiErr(http.StatusNotFound, codeSubjectLevelModeNotSet,
			"Subject '%s' does not have subject-level mode configured", subject))
		return
	}
	if err := r.store.write(req.Context(), logRecord{key: modeKey(subject)}); err != nil {
		writeErr(w, errStore(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mode": old})
}
