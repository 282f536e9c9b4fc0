package policy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/identity"
)

// Authorizer is what a service asks before it acts on a request: Allow
// reads the request's principal from its context (internal/identity) and
// decides on the policy in force. Every denial is counted
// (meshwork_authz_denials_total{action}) and logged with the principal,
// action, resource and deciding rule, at most logBurst times a minute for
// each principal and action (the rest are counted, and the next line
// logged says how many were not).
//
// A nil *Authorizer allows everything: that is a service without a policy
// file, as before policies existed.
type Authorizer struct {
	current func() *Policy
	log     *slog.Logger
	denials *prometheus.CounterVec
	limiter *logLimiter
}

// AuthorizerOption configures an Authorizer.
type AuthorizerOption func(*Authorizer)

// WithDenialLog logs denials to l.
func WithDenialLog(l *slog.Logger) AuthorizerOption { return func(a *Authorizer) { a.log = l } }

// WithDenialMetrics registers meshwork_authz_denials_total{action} with reg.
func WithDenialMetrics(reg prometheus.Registerer) AuthorizerOption {
	return func(a *Authorizer) { reg.MustRegister(a.denials) }
}

// NewAuthorizer decides on the policy current returns at each request
// (a Watcher's Policy, so a reload is in force at the next request).
func NewAuthorizer(current func() *Policy, opts ...AuthorizerOption) *Authorizer {
	a := &Authorizer{
		current: current,
		log:     slog.New(slog.DiscardHandler),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshwork", Subsystem: "authz", Name: "denials_total",
			Help: "Requests the security policy refused, by action."}, []string{"action"}),
		limiter: newLogLimiter(logBurst, time.Minute, logKeys),
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// StaticAuthorizer decides on p, which never changes (tests, tools).
func StaticAuthorizer(p *Policy, opts ...AuthorizerOption) *Authorizer {
	return NewAuthorizer(func() *Policy { return p }, opts...)
}

// DeniedError is a request the policy refused. HTTP surfaces answer it
// with 403 in their own error format.
type DeniedError struct {
	Principal string
	Action    string
	Resource  string
	Decision  Decision
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s may not %s %s: %s", e.Principal, e.Action, e.Resource, e.Decision.Explain())
}

// Enabled reports whether a policy is in force (a nil Authorizer has
// none).
func (a *Authorizer) Enabled() bool { return a != nil && a.current() != nil }

// Decide returns the decision on the request's principal taking action
// on resource, without logging or counting it: for filtering lists (a
// subject the principal may not read is left out of a listing, which is
// no denial).
func (a *Authorizer) Decide(ctx context.Context, action, resource string) Decision {
	if a == nil {
		return Decision{Allowed: true, NoPolicy: true}
	}
	return a.current().Decide(identity.FromContext(ctx).Name, action, resource)
}

// DecidePrincipal is Decide for a principal the caller authenticated
// itself.
func (a *Authorizer) DecidePrincipal(principal, action, resource string) Decision {
	if a == nil {
		return Decision{Allowed: true, NoPolicy: true}
	}
	return a.current().Decide(principal, action, resource)
}

// Allow returns nil when the request's principal may take action on
// resource, else a *DeniedError, which it logs and counts.
func (a *Authorizer) Allow(ctx context.Context, action, resource string) error {
	if a == nil {
		return nil
	}
	return a.AllowPrincipal(ctx, identity.FromContext(ctx).Name, action, resource)
}

// AllowPrincipal is Allow for a principal the caller authenticated itself
// (the REST adapter's own users).
func (a *Authorizer) AllowPrincipal(ctx context.Context, principal, action, resource string) error {
	if a == nil {
		return nil
	}
	d := a.current().Decide(principal, action, resource)
	if d.Allowed {
		return nil
	}
	a.denials.WithLabelValues(action).Inc()
	if ok, suppressed := a.limiter.allow(principal + "\x00" + action); ok {
		attrs := []any{"principal", principal, "action", action, "resource", resource, "rule", d.Rule, "reason", d.Explain()}
		if suppressed > 0 {
			attrs = append(attrs, "not_logged_since", suppressed)
		}
		a.log.Log(ctx, slog.LevelWarn, "authorization denied", attrs...)
	}
	return &DeniedError{Principal: principal, Action: action, Resource: resource, Decision: d}
}

// The denial log's bounds: at most logBurst lines a minute for each
// principal and action, for at most logKeys of them at once (beyond, all
// the others share one budget), so a client hammering refused requests
// cannot flood the log nor grow memory.
const (
	logBurst = 5
	logKeys  = 4096
)

// logLimiter allows burst events per window for each key.
type logLimiter struct {
	burst  int
	window time.Duration
	max    int
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*logWindow
}

type logWindow struct {
	start      time.Time
	n          int
	suppressed int
}

func newLogLimiter(burst int, window time.Duration, maxKeys int) *logLimiter {
	return &logLimiter{burst: burst, window: window, max: maxKeys, now: time.Now, keys: map[string]*logWindow{}}
}

// allow reports whether an event of key may be logged now and, if so, how
// many of key's events were not since the last one logged.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= l.max {
			for k, o := range l.keys { // forget the windows that ended
				if now.Sub(o.start) >= l.window && o.suppressed == 0 {
					delete(l.keys, k)
				}
			}
		}
		if len(l.keys) >= l.max {
			key = "" // the shared budget of the keys not followed
			if w, ok = l.keys[key]; !ok {
				w = &logWindow{start: now}
				l.keys[key] = w
			}
		} else {
			w = &logWindow{start: now}
			l.keys[key] = w
		}
	}
	if now.Sub(w.start) >= l.window {
		w.start, w.n = now, 0
	}
	if w.n >= l.burst {
		w.suppressed++
		return false, 0
	}
	w.n++
	s := w.suppressed
	w.suppressed = 0
	return true, s
}
