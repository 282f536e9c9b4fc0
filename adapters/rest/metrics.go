package rest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the REST adapter's own metrics, beside the adapter core's
// (meshwork_rest_egress_*, dead_letters_total, retries_total).
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	records  *prometheus.CounterVec
	attempts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, site string) *metrics {
	ns, sub := "meshwork", "rest"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "http_requests_total", Help: "HTTP requests answered, by route, method and status."}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "http_request_seconds", Help: "Time from a request's arrival to its answer, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "produced_records_total", Help: "Records of produce requests, by result (produced, failed)."}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "webhook_attempts_total", Help: "Webhook delivery attempts, by subscription and outcome (2xx, 4xx, 5xx, 429, error)."}, []string{"subscription", "outcome"}),
	}
	if reg != nil {
		prometheus.WrapRegistererWith(prometheus.Labels{"site": site}, reg).MustRegister(m.requests, m.latency, m.records, m.attempts)
	}
	return m
}

func (m *metrics) countRecords(_ string, out []produced) {
	var ok, failed int
	for _, r := range out {
		if r.Err == nil {
			ok++
		} else {
			failed++
		}
	}
	if ok > 0 {
		m.records.WithLabelValues("produced").Add(float64(ok))
	}
	if failed > 0 {
		m.records.WithLabelValues("failed").Add(float64(failed))
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines, full-duplex streaming).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument counts requests by the route pattern that served them.
func (m *metrics) instrument(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
