package authn

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/meshwork/meshwork/internal/identity"
)

// CodeUnauthenticated is the error_code of a refusal, Confluent's (and the
// REST proxy's) 40101.
const CodeUnauthenticated = 40101

// Realm is the realm of the challenges.
const Realm = "meshwork"

// Middleware answers 401 to requests that prove no principal and hands the
// others to next with their principal in the context. Requests to the
// exempt paths (exact matches, e.g. /healthz and /readyz) pass as they are.
func (a *Authenticator) Middleware(next http.Handler, exempt ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range exempt {
			if r.URL.Path == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		p, f := a.Authenticate(r)
		if f != nil {
			a.refuse(w, r, f)
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), p)))
	})
}

// refuse answers 401 with a challenge per accepted scheme (a bearer one
// saying invalid_token when a token was refused, RFC 6750) and a body in
// Confluent's error shape, counts and logs the refusal.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, f *Failure) {
	a.failures.WithLabelValues(f.Reason).Inc()
	attrs := []any{"reason", f.Reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr}
	if user, _, ok := r.BasicAuth(); ok && (f.Reason == ReasonUnknownUser || f.Reason == ReasonWrongPassword) {
		attrs = append(attrs, "user", user)
	}
	if f.Reason == ReasonInvalidJWT {
		attrs = append(attrs, "detail", f.Detail)
	}
	a.log.Info("auth: request refused", attrs...)

	var ways []string
	if len(a.cfg.Users) > 0 {
		w.Header().Add("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
		ways = append(ways, "HTTP basic credentials")
	}
	if len(a.cfg.Tokens) > 0 || a.jwt != nil {
		c := `Bearer realm="` + Realm + `"`
		if f.bearer() {
			c += `, error="invalid_token", error_description="` + strings.ReplaceAll(f.Detail, `"`, `'`) + `"`
		}
		w.Header().Add("WWW-Authenticate", c)
		ways = append(ways, "a bearer token")
	}
	if a.cfg.ClientCertificates {
		ways = append(ways, "a client certificate the service's client CAs verify")
	}
	msg := "Unauthorized: " + f.Detail + "; send " + strings.Join(ways, " or ") + "."
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	var body any = struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{CodeUnauthenticated, msg}
	if a.refusalBody != nil {
		body = a.refusalBody(msg)
	}
	if err := json.NewEncoder(w).Encode(body); err != nil {
		a.log.Debug("auth: refusal not written", slog.Any("error", err))
	}
}
