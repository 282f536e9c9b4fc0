package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// SubscriptionsTopic keeps the subscriptions made through the API, one
// record per subscription keyed by its id (a tombstone deletes it), so a
// restarted or second replica delivers them too.
const SubscriptionsTopic = "_mesh.rest.subscriptions"

// Origins of a subscription.
const (
	originConfig = "config"
	originAPI    = "api"
)

// subscription is a webhook subscription as stored and served. Secrets
// are stored (the topic is the mesh's own) but never served.
type subscription struct {
	ID          string            `json:"id"`
	Topic       string            `json:"topic"`
	Pattern     bool              `json:"pattern,omitempty"`
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers,omitempty"`
	Secret      string            `json:"secret,omitempty"`
	BearerToken string            `json:"bearer_token,omitempty"`
	Types       []string          `json:"types,omitempty"`
	Keys        []string          `json:"keys,omitempty"`
	MaxAttempts int               `json:"max_attempts,omitempty"`
	Backoff     string            `json:"backoff,omitempty"`
	Origin      string            `json:"origin,omitempty"`
	Created     time.Time         `json:"created,omitzero"`
	Updated     time.Time         `json:"updated,omitzero"`
}

// subscriptionView is a subscription as GET shows it: without its
// secrets, with its delivery status.
type subscriptionView struct {
	subscription
	HasSecret bool            `json:"has_secret"`
	HasToken  bool            `json:"has_bearer_token"`
	Status    *deliveryStatus `json:"status,omitempty"`
}

func (s subscription) view(st *deliveryStatus) subscriptionView {
	v := subscriptionView{subscription: s, HasSecret: s.Secret != "", HasToken: s.BearerToken != "", Status: st}
	v.Secret, v.BearerToken = "", ""
	return v
}

// deliveryStatus is what GET shows of a subscription's deliveries.
type deliveryStatus struct {
	Delivered   int64      `json:"delivered"`
	Failures    int64      `json:"failures"`
	DeadLetters int64      `json:"dead_letters"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastFailure *time.Time `json:"last_failure,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Lag         *int64     `json:"lag,omitempty"`
	LagError    string     `json:"lag_error,omitempty"`
	ConsumerGrp string     `json:"consumer_group"`
	Running     bool       `json:"running"`
}

// validate checks a subscription from the API or the configuration; the
// target URL is checked against the allowlist.
func (s *subscription) validate(allow *allowlist, defaults Webhooks) error {
	if err := validSubscriptionID(s.ID); err != nil {
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "id: %v", err)
	}
	if s.Topic == "" {
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "topic is required: a topic, or with \"pattern\": true a regular expression.")
	}
	if s.Pattern {
		if _, err := regexp.Compile(s.Topic); err != nil {
			return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "topic is not a valid regular expression: %v", err)
		}
	} else if len(s.Topic) > 0 && s.Topic[0] == '_' {
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "topic %q belongs to the mesh, the registry or Kafka itself.", s.Topic)
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" || u.User != nil {
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "url must be http:// or https:// with a host and no credentials, got %q.", s.URL)
	}
	if err := allow.checkURL(u); err != nil {
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "url %q: %v", s.URL, err)
	}
	if s.MaxAttempts < 0 || s.MaxAttempts > 1000 {
		return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "max_attempts must be 1 to 1000, got %d.", s.MaxAttempts)
	}
	if s.Backoff != "" {
		if d, err := time.ParseDuration(s.Backoff); err != nil || d <= 0 || d > defaults.MaxBackoff {
			return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "backoff must be a duration such as 500ms, at most %s, got %q.", defaults.MaxBackoff, s.Backoff)
		}
	}
	for k := range s.Headers {
		if http.CanonicalHeaderKey(k) == "Authorization" || len(k) > 4 && http.CanonicalHeaderKey(k)[:4] == "Ce-" || len(k) > 8 && http.CanonicalHeaderKey(k)[:8] == "Webhook-" {
			return errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "header %q is set by the adapter itself (use bearer_token for Authorization).", k)
		}
	}
	return nil
}

// attempts and backoff with the webhooks' defaults applied.
func (s *subscription) attempts(d Webhooks) int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return d.MaxAttempts
}

func (s *subscription) backoff(d Webhooks) time.Duration {
	if b, err := time.ParseDuration(s.Backoff); err == nil && b > 0 {
		return b
	}
	return d.Backoff
}

// fromConfig turns a configured subscription into one (secrets read from
// their files).
func fromConfig(c SubscriptionConfig, i int) (subscription, error) {
	ref := c.secret()
	ref.Field = fmt.Sprintf("webhooks.subscriptions[%d].%s", i, ref.Field)
	secret, err := ref.Resolve()
	if err != nil {
		return subscription{}, err
	}
	ref = c.bearerToken()
	ref.Field = fmt.Sprintf("webhooks.subscriptions[%d].%s", i, ref.Field)
	token, err := ref.Resolve()
	if err != nil {
		return subscription{}, err
	}
	s := subscription{ID: c.ID, Topic: c.Topic, Pattern: c.Pattern, URL: c.URL, Headers: c.Headers, Secret: secret, BearerToken: token,
		Types: c.Types, Keys: c.Keys, MaxAttempts: c.MaxAttempts, Origin: originConfig}
	if c.Backoff > 0 {
		s.Backoff = c.Backoff.String()
	}
	return s, nil
}

// same reports whether two versions deliver the same way (timestamps
// aside), so that a re-read does not restart delivery.
func (s subscription) same(o subscription) bool {
	s.Created, s.Updated, o.Created, o.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}
