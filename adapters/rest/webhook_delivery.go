package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/internal/service"
)

// errRefusedTarget marks a connection the allowlist refused: it can never
// succeed, so the record goes to the dead-letter topic at once.
var errRefusedTarget = errors.New("webhook target refused")

// maxExcerpt is how much of a failed response's body the dead letter and
// the status keep.
const maxExcerpt = 512

// hookSender delivers one subscription's records (an adapters.Sender). A
// record's Confirm completes once the receiver answered 2xx, or when the
// last attempt failed (a permanent error: the egress dead-letters it).
// Records of one key are delivered one after the other, in their order;
// records of other keys, and records without a key, side by side.
type hookSender struct {
	sub        subscription
	key        []byte // signing key; nil without a secret
	client     *http.Client
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	site       string
	stat       *subStats
	m          *metrics
	mu         sync.Mutex
	chains     map[string]chan struct{} // key -> done of its latest record
}

func newHookSender(sub subscription, d Webhooks, allow *allowlist, site string, stat *subStats, m *metrics) *hookSender {
	u, _ := url.Parse(sub.URL) // validated
	host := u.Hostname()
	dialer := &net.Dialer{Timeout: d.Timeout, Control: func(network, address string, c syscallRawConn) error {
		if err := allow.control(host)(network, address, c); err != nil {
			return fmt.Errorf("%w: %v", errRefusedTarget, err)
		}
		return nil
	}}
	tr := &http.Transport{
		Proxy:               nil, // the allowlist judges the real target
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: d.MaxInFlight,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: d.Timeout,
		ForceAttemptHTTP2:   true,
	}
	s := &hookSender{
		sub: sub, client: &http.Client{Transport: tr, Timeout: d.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		attempts: sub.attempts(d), backoff: sub.backoff(d), maxBackoff: d.MaxBackoff,
		site: site, stat: stat, m: m, chains: map[string]chan struct{}{},
	}
	if sub.Secret != "" {
		s.key = signingKey(sub.Secret)
	}
	return s
}

// hookConfirm completes once a record is delivered or given up.
type hookConfirm struct {
	done chan struct{}
	err  error
}

func (c *hookConfirm) Done() <-chan struct{} { return c.done }
func (c *hookConfirm) Error() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Send implements adapters.Sender.
func (s *hookSender) Send(ctx context.Context, r *kgo.Record) adapters.Confirm {
	if !s.wants(r) {
		return adapters.Confirmed(adapters.ErrSkip)
	}
	c := &hookConfirm{done: make(chan struct{})}
	var prev chan struct{}
	k := string(r.Key)
	if r.Key != nil {
		s.mu.Lock()
		prev = s.chains[k]
		s.chains[k] = c.done
		s.mu.Unlock()
	}
	go func() {
		defer close(c.done)
		if prev != nil {
			select {
			case <-prev:
			case <-ctx.Done():
				c.err = ctx.Err()
				return
			}
		}
		c.err = s.deliver(ctx, r)
		if r.Key != nil {
			s.mu.Lock()
			if s.chains[k] == c.done {
				delete(s.chains, k)
			}
			s.mu.Unlock()
		}
	}()
	return c
}

// wants applies the subscription's filters on ce_type and key, and skips
// records stamped before the subscription was made (a new subscription's
// group reads from the beginning).
func (s *hookSender) wants(r *kgo.Record) bool {
	if !s.sub.Created.IsZero() && r.Timestamp.Before(s.sub.Created.Truncate(time.Millisecond)) {
		return false
	}
	if len(s.sub.Types) > 0 {
		typ := ""
		for _, h := range r.Headers {
			if h.Key == "ce_type" {
				typ = string(h.Value)
			}
		}
		if !matchAnyGlob(s.sub.Types, typ) {
			return false
		}
	}
	if len(s.sub.Keys) > 0 && !matchAnyGlob(s.sub.Keys, string(r.Key)) {
		return false
	}
	return true
}

func matchAnyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// deliver tries r until the receiver takes it or the attempts run out:
// exponential backoff with jitter, or the receiver's Retry-After.
func (s *hookSender) deliver(ctx context.Context, r *kgo.Record) error {
	env, _ := envelope.FromKafka(r.Headers)
	if env.ID == "" {
		env.ID = fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset)
	}
	if env.SpecVersion == "" {
		env.SpecVersion = envelope.SpecVersion
	}
	if env.Source == "" {
		env.Source = "/" + s.site + "/kafka/" + r.Topic
	}
	if env.Type == "" {
		env.Type = r.Topic
	}
	var last string
	for attempt := 1; ; attempt++ {
		status, retryAfter, excerpt, err := s.attempt(ctx, r, env)
		switch {
		case err == nil && status >= 200 && status < 300:
			s.m.attempts.WithLabelValues(s.sub.ID, "2xx").Inc()
			s.stat.succeeded()
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errRefusedTarget):
			s.m.attempts.WithLabelValues(s.sub.ID, "refused").Inc()
			s.stat.failed(err.Error())
			s.stat.dead.Add(1)
			return adapters.Permanent(adapters.ReasonRefused, fmt.Errorf("webhook %s: %v", s.sub.ID, err))
		case err != nil:
			s.m.attempts.WithLabelValues(s.sub.ID, "error").Inc()
			last = err.Error()
		default:
			s.m.attempts.WithLabelValues(s.sub.ID, outcome(status)).Inc()
			last = fmt.Sprintf("HTTP %d", status)
			if excerpt != "" {
				last += ": " + excerpt
			}
		}
		s.stat.failed(last)
		if attempt >= s.attempts {
			s.stat.dead.Add(1)
			return adapters.Permanent(adapters.ReasonRefused, fmt.Errorf("webhook %s to %s: %s (after %d attempts)", s.sub.ID, s.sub.URL, last, attempt))
		}
		wait := s.wait(attempt, retryAfter)
		s.stat.retried()
		if !retry.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

func outcome(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "429"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	}
	return strconv.Itoa(status/100) + "xx"
}

// wait is the pause after a failed attempt: the receiver's Retry-After
// when it gave one, else backoff doubled per attempt with full jitter in
// its upper half; never above max_backoff.
func (s *hookSender) wait(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, s.maxBackoff)
	}
	d := s.backoff << min(attempt-1, 30)
	if d <= 0 || d > s.maxBackoff {
		d = s.maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// attempt makes one delivery: CloudEvents binary mode, signed as Standard
// Webhooks says.
func (s *hookSender) attempt(ctx context.Context, r *kgo.Record, env envelope.Envelope) (status int, retryAfter time.Duration, excerpt string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sub.URL, bytes.NewReader(r.Value))
	if err != nil {
		return 0, 0, "", err
	}
	env.SetHTTP(req.Header)
	if env.ContentType == "" {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if r.Key != nil && utf8.Valid(r.Key) && len(r.Key) <= 1024 {
		req.Header.Set("Ce-Partitionkey", percentKey(r.Key))
	}
	for k, v := range s.sub.Headers {
		req.Header.Set(k, v)
	}
	if s.sub.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.sub.BearerToken)
	}
	req.Header.Set("User-Agent", "meshwork-rest/"+service.Version())
	now := time.Now()
	req.Header.Set(headerWebhookID, env.ID)
	req.Header.Set(headerWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	if s.key != nil {
		req.Header.Set(headerWebhookSignature, sign(s.key, env.ID, now, r.Value))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxExcerpt))
		excerpt = string(bytes.ToValidUTF8(b, []byte("?")))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), now), excerpt, nil
}

// percentKey encodes a key for a ce- header as the HTTP binding wants.
func percentKey(k []byte) string {
	var b bytes.Buffer
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// parseRetryAfter reads Retry-After: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// subStats is a subscription's delivery status.
type subStats struct {
	delivered, failures, retries, dead atomic.Int64
	mu                                 sync.Mutex
	lastSuccess, lastFailure           time.Time
	lastError                          string
}

func (s *subStats) succeeded() {
	s.delivered.Add(1)
	s.mu.Lock()
	s.lastSuccess = time.Now()
	s.mu.Unlock()
}

func (s *subStats) failed(why string) {
	s.failures.Add(1)
	s.mu.Lock()
	s.lastFailure, s.lastError = time.Now(), truncateText(why, maxExcerpt)
	s.mu.Unlock()
}

func (s *subStats) retried() { s.retries.Add(1) }

func (s *subStats) status() *deliveryStatus {
	st := &deliveryStatus{Delivered: s.delivered.Load(), Failures: s.failures.Load(), DeadLetters: s.dead.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastSuccess.IsZero() {
		t := s.lastSuccess.UTC()
		st.LastSuccess = &t
	}
	if !s.lastFailure.IsZero() {
		t := s.lastFailure.UTC()
		st.LastFailure = &t
	}
	st.LastError = s.lastError
	return st
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
