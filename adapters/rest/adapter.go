package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/semaphore"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/trace"
)

// Adapter is the REST adapter: an HTTP API that produces into the site's
// Kafka cluster and delivers its records to webhooks. It is a
// service.HTTPService: New, Start, Ready, Close, and Handler for the API.
// The listen address speaks TLS when the common tls section says so, and
// the common auth section authenticates every request (service.Run does
// both); the adapter authorizes the principal it finds in the request's
// context through its Authorizer.
type Adapter struct {
	cfg       Config
	log       *slog.Logger
	m         *metrics
	core      *adapters.Metrics
	kafka     *kgo.Client // produces the requests' records, placed by the adapter
	sys       *kgo.Client // the mesh's own records: dead letters, leases, subscriptions
	adm       *kadm.Client
	limits    *kafkaclient.Limits
	prod      *producer
	schemas   *schemas // nil without a registry
	authz     Authorizer
	events    []eventRule
	dead      *adapters.DeadLetters
	trace     *trace.Recorder // nil when tracing is off
	hooks     *webhooks
	idem      *idempotency // nil when off
	consumers *consumers
	extra     []kgo.Opt
	now       func() time.Time
	cluster   atomic.Pointer[string] // the Kafka cluster's id, once known
	started   atomic.Bool

	handler http.Handler
	mux     *http.ServeMux

	// work ends background work (webhook deliveries, leases, the
	// idempotency follower); Close ends it.
	work     context.Context
	stopWork context.CancelFunc
	wg       sync.WaitGroup
}

// Option changes how New builds an adapter (tests use them).
type Option func(*Adapter)

// WithKafkaOptions adds options to every Kafka client of the adapter.
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(a *Adapter) { a.extra = append(a.extra, opts...) }
}

// WithAuthorizer takes authorization decisions through az instead of the
// configuration's grants (e.g. the mesh-wide policy).
func WithAuthorizer(az Authorizer) Option { return func(a *Adapter) { a.authz = az } }

// New builds an adapter from cfg, which it validates; it does no I/O
// beyond reading secret files.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (_ *Adapter, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rest adapter config: %w", err)
	}
	a := &Adapter{cfg: cfg, log: logger, m: newMetrics(reg, cfg.Site), core: adapters.NewMetrics(reg, "rest", cfg.Site), now: time.Now}
	for _, o := range opts {
		o(a)
	}
	if a.authz == nil {
		a.authz = NewConfigAuthorizer(cfg.Grants)
	}
	if a.events, err = compileEvents(cfg.Events); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && a.kafka != nil {
			a.kafka.Close()
		}
		if err != nil && a.sys != nil {
			a.sys.Close()
		}
	}()
	a.limits = kafkaclient.NewLimits()
	// Records are placed by the adapter (see producer.place); topics are
	// never created by a request.
	if a.kafka, err = kafkaclient.New(cfg.Kafka, "rest", cfg.Site, append([]kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytesFn(a.limits.BatchMaxBytes),
	}, a.extra...)...); err != nil {
		return nil, err
	}
	a.limits.Use(a.kafka)
	a.adm = kadm.NewClient(a.kafka)
	a.prod = &producer{
		kafka: a.kafka, adm: a.adm, limits: a.limits,
		window: semaphore.NewWeighted(int64(cfg.MaxInFlight)), max: int64(cfg.MaxInFlight),
		retryAfter: cfg.RetryAfter, timeout: cfg.ProduceTimeout, site: cfg.Site,
		topics:  newTopicCache(a.adm, 5*time.Second),
		trouble: adapters.NewTrouble(cfg.NotReadyAfter),
	}
	if cfg.Registry.URL != "" {
		if a.schemas, err = newSchemas(cfg.Registry); err != nil {
			return nil, err
		}
	}
	if a.sys, err = kafkaclient.New(cfg.Kafka, "rest", cfg.Site, a.extra...); err != nil {
		return nil, err
	}
	a.dead = adapters.NewDeadLetters(a.sys, a.limits, "rest-adapter/"+cfg.Site, logger, a.core)
	if a.trace, err = trace.NewRecorder(a.sys, cfg.Site, "rest-adapter/"+cfg.Site, cfg.Trace, logger, reg); err != nil {
		return nil, err
	}
	a.prod.trace = a.trace
	if a.hooks, err = newWebhooks(a); err != nil {
		return nil, err
	}
	if cfg.Idempotency.Window > 0 {
		a.idem = newIdempotency(a)
	}
	a.handler = a.routes()
	return a, nil
}

// Handler is the HTTP API.
func (a *Adapter) Handler() http.Handler { return a.handler }

// Start starts the webhook deliveries and the idempotency store. ctx is
// not kept: Close stops the adapter.
func (a *Adapter) Start(ctx context.Context) error {
	a.work, a.stopWork = context.WithCancel(context.Background())
	a.trace.Start(a.work)
	if a.idem != nil {
		if err := a.idem.start(ctx, a.work, &a.wg); err != nil {
			a.stopWork()
			return err
		}
	}
	if err := a.hooks.start(ctx, a.work, &a.wg); err != nil {
		return err
	}
	a.wg.Go(func() { a.consumers.expire(a.work) })
	a.started.Store(true)
	return nil
}

// Ready reports whether Kafka answers and neither produces nor webhook
// deliveries have been failing for long.
func (a *Adapter) Ready(ctx context.Context) error {
	if !a.started.Load() {
		return errors.New("starting: loading subscriptions and idempotency keys from Kafka")
	}
	if err := a.kafka.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	errs := []error{a.prod.trouble.Err("kafka: produces"), a.hooks.ready()}
	if a.idem != nil {
		errs = append(errs, a.idem.ready())
	}
	return errors.Join(errs...)
}

// Close stops the adapter: webhook deliveries stop (committing what their
// receivers confirmed), background work ends, and the Kafka clients close.
// Requests in flight were finished by the HTTP server's shutdown before.
func (a *Adapter) Close(ctx context.Context) error {
	var errs []error
	if a.work != nil {
		errs = append(errs, a.hooks.close(ctx))
		a.stopWork()
		if err := waitGroup(ctx, &a.wg); err != nil {
			// Offsets were committed before: what is left is a consumer
			// group leave (franz-go's Close waits for it without a
			// bound); the member expires with its session instead.
			a.log.Warn("rest adapter: stopped with background work still running", "error", err)
		}
	}
	if a.idem != nil {
		a.idem.close()
	}
	errs = append(errs, a.trace.Close(ctx)) // before the client it writes with
	a.kafka.Close()
	a.sys.Close()
	return errors.Join(errs...)
}

// routes is the API. Each route's handler checks its own authorization.
func (a *Adapter) routes() http.Handler {
	mux := http.NewServeMux()
	a.mux = mux
	// REST Proxy v2
	mux.HandleFunc("GET /topics", a.handleTopics)
	mux.HandleFunc("GET /topics/{topic}", a.handleTopic)
	mux.HandleFunc("POST /topics/{topic}", a.handleV2Produce)
	mux.HandleFunc("GET /topics/{topic}/partitions", a.handlePartitions)
	mux.HandleFunc("GET /topics/{topic}/partitions/{partition}", a.handlePartitions)
	mux.HandleFunc("POST /topics/{topic}/partitions/{partition}", a.handleV2Produce)
	// REST Proxy v3
	mux.HandleFunc("GET /v3/clusters", a.handleClusters)
	mux.HandleFunc("GET /v3/clusters/{cluster}", a.handleClusters)
	mux.HandleFunc("POST /v3/clusters/{cluster}/topics/{topic}/records", a.handleV3Produce)
	// CloudEvents
	mux.HandleFunc("POST /events", a.handleEvents)
	mux.HandleFunc("POST /topics/{topic}/events", a.handleEvents)
	// Webhook subscriptions
	mux.HandleFunc("POST /v1/subscriptions", a.hooks.handleCreate)
	mux.HandleFunc("GET /v1/subscriptions", a.hooks.handleList)
	mux.HandleFunc("GET /v1/subscriptions/{id}", a.hooks.handleGet)
	mux.HandleFunc("PUT /v1/subscriptions/{id}", a.hooks.handlePut)
	mux.HandleFunc("DELETE /v1/subscriptions/{id}", a.hooks.handleDelete)
	a.consumerRoutes(mux)
	mux.HandleFunc("GET /openapi.json", a.handleOpenAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "HTTP 405 Method Not Allowed: %s takes %s.", r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "HTTP 404 Not Found: no route %s %s; /openapi.json describes the API.", r.Method, r.URL.Path))
	})
	return a.withRules(a.m.instrument(mux, mux))
}

// allowedMethods lists the methods another route of mux takes for r's
// path: the catch-all route answers 405 for them, in the proxy's format.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// waitGroup waits for wg, at most until ctx ends: a Kafka client whose
// group leave hangs (franz-go's Close waits for it without a bound) must not
// keep a stopping process alive.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("background work still running at the shutdown deadline: %w", ctx.Err())
	}
}
