package authn

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/meshwork/meshwork/internal/identity"
)

// DefaultCheckInterval is how often, at most, the secret files are looked
// at for changes: on the first request after the interval.
const DefaultCheckInterval = 5 * time.Second

// Authenticator proves the principal of HTTP requests from a Config.
// It is safe for concurrent use; Close ends the JWT key refresh.
type Authenticator struct {
	cfg            Config
	log            *slog.Logger
	failures       *prometheus.CounterVec
	clientIdentity func(*tls.ConnectionState) string
	httpClient     *http.Client // nil: one with jwt.tls
	now            func() time.Time
	checkEvery     time.Duration
	cacheTTL       time.Duration
	cacheSize      int
	refusalBody    func(message string) any

	key   []byte // keys the digests of secrets and of cached verifications
	dummy []byte // a bcrypt hash an unknown user's password is compared with
	cache *cache
	jwt   *jwtVerifier
	stop  context.CancelFunc

	verifying singleflight.Group                // bcrypt comparisons in progress, by keyed digest
	compare   func(hash, password []byte) error // bcrypt.CompareHashAndPassword
	creds     atomic.Pointer[credentials]
	nextCheck atomic.Int64 // unix nanoseconds
	reloading sync.Mutex
}

// Option changes how New builds an Authenticator.
type Option func(*Authenticator)

// WithLogger logs refusals, warnings and reloads to l.
func WithLogger(l *slog.Logger) Option { return func(a *Authenticator) { a.log = l } }

// WithMetrics registers meshwork_auth_failures_total on reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(a *Authenticator) { a.failures = newFailures(reg) }
}

// WithClientIdentity names the principal of a connection's verified client
// certificate ("" when none), e.g. tlsconfig.ServerFiles.ClientIdentityOf;
// used when client_certificates is set.
func WithClientIdentity(f func(*tls.ConnectionState) string) Option {
	return func(a *Authenticator) { a.clientIdentity = f }
}

// WithHTTPClient fetches the JWT provider's keys with c.
func WithHTTPClient(c *http.Client) Option { return func(a *Authenticator) { a.httpClient = c } }

// WithCheckInterval looks at the secret files at most every d.
func WithCheckInterval(d time.Duration) Option { return func(a *Authenticator) { a.checkEvery = d } }

// WithCache remembers successful bcrypt verifications for ttl, at most
// size of them (0 remembers none).
func WithCache(ttl time.Duration, size int) Option {
	return func(a *Authenticator) { a.cacheTTL, a.cacheSize = ttl, size }
}

// WithRefusalBody makes the JSON body of a refusal from its message, for
// a service whose errors have a shape other than Confluent's.
func WithRefusalBody(f func(message string) any) Option {
	return func(a *Authenticator) { a.refusalBody = f }
}

// WithClock reads the time from now (tests).
func WithClock(now func() time.Time) Option { return func(a *Authenticator) { a.now = now } }

// New builds the authenticator of cfg (validated by the caller): it reads
// the secrets the configuration names and starts fetching the JWT
// provider's keys, until Close.
func New(cfg Config, opts ...Option) (*Authenticator, error) {
	a := &Authenticator{
		cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now, checkEvery: DefaultCheckInterval,
		cacheTTL: DefaultCacheTTL, cacheSize: DefaultCacheSize,
		compare: bcrypt.CompareHashAndPassword,
	}
	for _, o := range opts {
		o(a)
	}
	if a.failures == nil {
		a.failures = newFailures(nil)
	}
	a.cache = newCache(a.cacheTTL, a.cacheSize, a.now)
	a.key = make([]byte, 32)
	if _, err := rand.Read(a.key); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	// Inline secrets are warned about by whoever loads the configuration
	// (service.Run, through their secret tags).
	for _, u := range cfg.Users {
		if u.PasswordHash != "" && a.dummy == nil {
			cost, _ := bcrypt.Cost([]byte(u.PasswordHash))
			h, err := bcrypt.GenerateFromPassword(a.key[:16], max(cost, bcrypt.MinCost))
			if err != nil {
				return nil, fmt.Errorf("auth: %w", err)
			}
			a.dummy = h
		}
	}
	cr, err := loadCredentials(cfg, a.key)
	if err != nil {
		return nil, err
	}
	a.creds.Store(cr)
	a.nextCheck.Store(a.now().Add(a.checkEvery).UnixNano())
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	if cfg.JWT != nil {
		if a.httpClient == nil {
			tc, err := cfg.JWT.TLS.Client("auth.jwt.tls")
			if err != nil {
				stop()
				return nil, err
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = tc
			a.httpClient = &http.Client{Timeout: 10 * time.Second, Transport: tr}
		}
		if a.jwt, err = newJWTVerifier(ctx, cfg.JWT, a.httpClient, a.log, a.now); err != nil {
			stop()
			return nil, err
		}
	}
	return a, nil
}

// Close stops fetching the JWT provider's keys.
func (a *Authenticator) Close() { a.stop() }

// Authenticate returns the principal r proves, or why it proves none. The
// Authorization header comes first; without one, a verified client
// certificate names the principal when client_certificates is set.
func (a *Authenticator) Authenticate(r *http.Request) (identity.Principal, *Failure) {
	cr := a.current()
	h := r.Header.Get("Authorization")
	if h == "" {
		if a.cfg.ClientCertificates && a.clientIdentity != nil {
			if id := a.clientIdentity(r.TLS); id != "" {
				return identity.Principal{Name: id, Method: identity.MethodCert}, nil
			}
		}
		return identity.Principal{}, &Failure{Reason: ReasonMissing, Detail: "no credentials"}
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic") && len(a.cfg.Users) > 0:
		user, pw, ok := r.BasicAuth()
		if !ok {
			return identity.Principal{}, &Failure{Reason: ReasonMalformed, Detail: "the Basic credentials do not decode to user:password"}
		}
		return a.basic(cr, user, pw)
	case strings.EqualFold(scheme, "Bearer") && (len(a.cfg.Tokens) > 0 || a.jwt != nil):
		tok := strings.TrimSpace(rest)
		if tok == "" {
			return identity.Principal{}, &Failure{Reason: ReasonMalformed, Detail: "the Bearer token is empty"}
		}
		return a.bearer(cr, tok)
	}
	return identity.Principal{}, &Failure{Reason: ReasonUnsupportedScheme, Detail: fmt.Sprintf("the %q scheme is not accepted here", scheme)}
}

// current returns the credentials, rebuilt first when a secret file
// changed (looked at most every checkEvery, by one request at a time; the
// others go on with what is loaded). A file caught missing or half
// written leaves the credentials as they were, with a warning.
func (a *Authenticator) current() *credentials {
	cr := a.creds.Load()
	now := a.now()
	if now.UnixNano() < a.nextCheck.Load() || len(cr.files) == 0 || !a.reloading.TryLock() {
		return cr
	}
	defer a.reloading.Unlock()
	a.nextCheck.Store(now.Add(a.checkEvery).UnixNano())
	if !cr.changed() {
		return cr
	}
	fresh, err := loadCredentials(a.cfg, a.key)
	if err != nil {
		a.log.Warn("auth: secret files changed but could not be read again; keeping the credentials loaded before", "error", err)
		return cr
	}
	a.creds.Store(fresh)
	a.cache.clear()
	a.log.Info("auth: credentials reloaded: a secret file changed")
	return fresh
}
