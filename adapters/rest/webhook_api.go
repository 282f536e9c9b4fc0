package rest

import (
	"net/http"

	"github.com/meshwork/meshwork/internal/envelope"
)

// handleCreate serves POST /v1/subscriptions: 201 with the subscription
// (its id, made up when not given), once it is stored in Kafka.
func (h *webhooks) handleCreate(w http.ResponseWriter, r *http.Request) {
	s, err := h.readSubscription(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if s.ID == "" {
		s.ID = envelope.NewID()
	}
	if _, exists := h.get(s.ID); exists {
		writeError(w, errorf(http.StatusConflict, CodeConflict, "Subscription %q exists: PUT /v1/subscriptions/%s changes it.", s.ID, s.ID))
		return
	}
	s.Origin, s.Created = originAPI, h.a.now().UTC()
	if err := h.check(r, &s); err != nil {
		writeError(w, err)
		return
	}
	if err := h.persist(r.Context(), s.ID, &s); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/subscriptions/"+s.ID)
	writeJSON(w, http.StatusCreated, contentTypeJSON, s.view(h.status(r.Context(), s.ID, false)))
}

// handlePut serves PUT /v1/subscriptions/{id}: the body replaces the
// subscription; a secret or bearer token left out is kept.
func (h *webhooks) handlePut(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	old, err := h.apiSubscription(r, id)
	if err != nil {
		writeError(w, err)
		return
	}
	s, err := h.readSubscription(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if s.ID != "" && s.ID != id {
		writeError(w, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "The body's id %q is not the path's %q.", s.ID, id))
		return
	}
	s.ID, s.Origin, s.Created, s.Updated = id, originAPI, old.Created, h.a.now().UTC()
	if s.Secret == "" {
		s.Secret = old.Secret
	}
	if s.BearerToken == "" {
		s.BearerToken = old.BearerToken
	}
	if err := h.check(r, &s); err != nil {
		writeError(w, err)
		return
	}
	if err := h.persist(r.Context(), id, &s); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, contentTypeJSON, s.view(h.status(r.Context(), id, false)))
}

// handleDelete serves DELETE /v1/subscriptions/{id}: 204 once the
// deletion is stored; delivery stops.
func (h *webhooks) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := h.apiSubscription(r, id); err != nil {
		writeError(w, err)
		return
	}
	if err := h.persist(r.Context(), id, nil); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleList serves GET /v1/subscriptions, without secrets: those of
// the topics the principal may consume.
func (h *webhooks) handleList(w http.ResponseWriter, r *http.Request) {
	if err := h.a.authorize(r, ActionSubscriptions, ""); err != nil {
		writeError(w, err)
		return
	}
	views := []subscriptionView{}
	for _, s := range h.list() {
		if h.a.visible(r, ActionConsume, s.Topic) {
			views = append(views, s.view(h.status(r.Context(), s.ID, false)))
		}
	}
	writeJSON(w, http.StatusOK, contentTypeJSON, map[string]any{"subscriptions": views})
}

// handleGet serves GET /v1/subscriptions/{id}: the subscription without
// its secrets, with its delivery status (last success, failures, lag).
func (h *webhooks) handleGet(w http.ResponseWriter, r *http.Request) {
	if err := h.a.authorize(r, ActionSubscriptions, ""); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	s, ok := h.get(id)
	if !ok {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "Subscription %q not found.", id))
		return
	}
	if err := h.a.authorize(r, ActionConsume, s.Topic); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, contentTypeJSON, s.view(h.status(r.Context(), id, true)))
}

// apiSubscription returns a subscription the API may change: one of a
// topic the principal may consume.
func (h *webhooks) apiSubscription(r *http.Request, id string) (subscription, error) {
	if err := h.a.authorize(r, ActionSubscriptions, ""); err != nil {
		return subscription{}, err
	}
	s, ok := h.get(id)
	if !ok {
		return subscription{}, errorf(http.StatusNotFound, CodeNotFound, "Subscription %q not found.", id)
	}
	if err := h.a.authorize(r, ActionConsume, s.Topic); err != nil {
		return subscription{}, err
	}
	if s.Origin == originConfig {
		return subscription{}, errorf(http.StatusConflict, CodeConflict, "Subscription %q comes from the adapter's configuration file: change it there.", id)
	}
	return s, nil
}

// readSubscription reads a subscription from the body; fields the API
// does not know are 422.
func (h *webhooks) readSubscription(w http.ResponseWriter, r *http.Request) (subscription, error) {
	if err := h.a.authorize(r, ActionSubscriptions, ""); err != nil {
		return subscription{}, err
	}
	if mt := mediaType(r); mt != contentTypeJSON && mt != "" {
		return subscription{}, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "Unsupported media type %q: send application/json.", r.Header.Get("Content-Type"))
	}
	body, err := readBody(w, r, 64<<10, h.a.cfg.ReadTimeout)
	if err != nil {
		return subscription{}, err
	}
	var in struct {
		ID          string            `json:"id"`
		Topic       string            `json:"topic"`
		Pattern     bool              `json:"pattern"`
		URL         string            `json:"url"`
		Headers     map[string]string `json:"headers"`
		Secret      string            `json:"secret"`
		BearerToken string            `json:"bearer_token"`
		Types       []string          `json:"types"`
		Keys        []string          `json:"keys"`
		MaxAttempts int               `json:"max_attempts"`
		Backoff     string            `json:"backoff"`
	}
	if err := decodeStrict(body, &in); err != nil {
		return subscription{}, err
	}
	return subscription{ID: in.ID, Topic: in.Topic, Pattern: in.Pattern, URL: in.URL, Headers: in.Headers, Secret: in.Secret,
		BearerToken: in.BearerToken, Types: in.Types, Keys: in.Keys, MaxAttempts: in.MaxAttempts, Backoff: in.Backoff}, nil
}

// check validates s and that the principal may consume its topic.
func (h *webhooks) check(r *http.Request, s *subscription) error {
	if err := s.validate(h.allow, h.a.cfg.Webhooks); err != nil {
		return err
	}
	return h.a.authorize(r, ActionConsume, s.Topic)
}
