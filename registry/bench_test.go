package registry

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/authn/authntest"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/policy"
)

// The read path is what every consumer's deserializer hits on a cache miss,
// so GET /schemas/ids/{id} is measured over real loopback HTTP against the
// ceiling of this machine: a plain net/http handler answering a constant body
// of the same size, through the same client, in the same run.

func BenchmarkGetSchemaByID(b *testing.B) {
	in := startInstance(b, newCluster(b), nil)
	in.waitReady(b)
	var id int
	for i := range 50 {
		schema := fmt.Sprintf(`{"type":"record","name":"R%d","namespace":"bench","fields":[{"name":"a","type":"string"},{"name":"b","type":"long"}]}`, i)
		id = in.register(b, fmt.Sprintf("s%d-value", i), schema)
	}
	loadHTTP(b, fmt.Sprintf("%s/schemas/ids/%d", in.url, id))
}

// BenchmarkGetSchemaByIDAuth is BenchmarkGetSchemaByID with
// authentication off and on, in the same run: basic with a bcrypt hash
// (verified once, then from the cache), a static token, a JWT.
func BenchmarkGetSchemaByIDAuth(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	idp := authntest.New(b)
	on := authn.Config{
		Users:  []authn.User{{Name: "reader", PasswordHash: string(hash)}},
		Tokens: []authn.Token{{Name: "reader", Token: "t0ken"}},
		JWT:    &authn.JWT{JWKSURL: idp.URL, Issuer: authntest.Issuer, Audience: authntest.Audience},
	}
	for _, c := range []struct {
		name   string
		cfg    authn.Config
		header string
	}{
		{"off", authn.Config{}, ""},
		{"basic-bcrypt", on, authntest.Basic("reader", "pw")},
		{"token", on, "Bearer t0ken"},
		{"jwt", on, "Bearer " + idp.Token("reader", nil)},
	} {
		b.Run(c.name, func(b *testing.B) {
			in := startInstance(b, newCluster(b), func(cfg *Config) { cfg.Auth = c.cfg })
			in.waitReady(b)
			in.client = withAuth(c.header)
			id := in.register(b, "bench-value", `{"type":"record","name":"R","namespace":"bench","fields":[{"name":"a","type":"string"},{"name":"b","type":"long"}]}`)
			loadHTTPWith(b, fmt.Sprintf("%s/schemas/ids/%d", in.url, id), c.header)
		})
	}
}

func BenchmarkGetConstantCeiling(b *testing.B) {
	body := []byte(`{"schema":"{\"type\":\"record\",\"name\":\"R49\",\"namespace\":\"bench\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"long\"}]}"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	loadHTTP(b, srv.URL+"/schemas/ids/1")
}

// loadHTTP runs GETs from 8 goroutines per core and reports the p50 and p99
// latency next to the throughput.
func loadHTTP(b *testing.B, url string) { loadHTTPWith(b, url, "") }

// loadHTTPWith is loadHTTP sending the Authorization header auth.
func loadHTTPWith(b *testing.B, url, auth string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			start := time.Now()
			req, _ := http.NewRequest("GET", url, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			local = append(local, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	b.StopTimer()
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRegister measures the latency of registering a new version: a
// compatibility check, one Kafka transaction, and waiting to apply it.
func BenchmarkRegister(b *testing.B) {
	in := startInstance(b, newCluster(b), nil)
	in.waitReady(b)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		schema := fmt.Sprintf(`{"type":"record","name":"R","namespace":"bench","fields":[{"name":"a","type":"string"},{"name":"f%d","type":["null","long"],"default":null}]}`, i)
		start := time.Now()
		in.register(b, fmt.Sprintf("r%d-value", i), schema)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkGetSchemaByIDPolicy measures what authorization adds to GET
// /schemas/ids/{id}, in one run: no policy; a principal that may read
// every subject; one that may read some subjects (subject:s4*), so the
// id's subjects are looked at. Each request carries its principal, as
// authentication would leave it, in all three. Over HTTP the three take
// turns in slices of rotating order (the machine may be shared), and
// read-all-cost-% and per-subject-cost-% are what each takes off the rate
// without a policy; in process (handler), without sockets, each is
// measured on its own.
func BenchmarkGetSchemaByIDPolicy(b *testing.B) {
	const text = `rules:
  - {name: admins, principals: [admin], actions: ["*"], resources: ["*"]}
  - {name: viewers, principals: [viewer], actions: [read], resources: ["*"]}
  - {name: team, principals: [team-*], actions: [read, write], resources: ["subject:s4*", "topic:s4*"]}
deny:
  - {principals: ["*"], actions: [delete], resources: ["subject:payments-*"]}
`
	p, err := policy.Parse("policy.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	type variant struct {
		name, user string
		opts       []Option
		in         *instance
		path       string
		took       time.Duration
		sent       int
	}
	variants := []*variant{
		{name: "off", user: "team-a"},
		{name: "read-all", user: "viewer", opts: []Option{WithAuthorizer(policy.StaticAuthorizer(p))}},
		{name: "per-subject", user: "team-a", opts: []Option{WithAuthorizer(policy.StaticAuthorizer(p))}},
	}
	for _, v := range variants {
		v.in = startInstanceWith(b, newCluster(b), nil, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				user := v.user
				if r.Method != http.MethodGet {
					user = "admin" // the setup's registrations
				}
				next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), identity.Principal{Name: user, Method: identity.MethodBasic})))
			})
		}, v.opts...)
		v.in.waitReady(b)
		var id int
		for i := range 50 {
			schema := fmt.Sprintf(`{"type":"record","name":"R%d","namespace":"bench","fields":[{"name":"a","type":"string"},{"name":"b","type":"long"}]}`, i)
			id = v.in.register(b, fmt.Sprintf("s%d-value", i), schema)
		}
		v.path = fmt.Sprintf("/schemas/ids/%d", id)
	}
	b.Run("http", func(b *testing.B) {
		const slices = 12
		for _, v := range variants {
			v.took, v.sent = 0, 0
		}
		tr := &http.Transport{MaxIdleConnsPerHost: 256}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		for s := range slices {
			n := b.N / slices
			if s < b.N%slices {
				n++
			}
			for k := range variants {
				v := variants[(s+k)%len(variants)]
				v.took += getN(b, client, v.in.url+v.path, n)
				v.sent += n
			}
		}
		rate := map[string]float64{}
		for _, v := range variants {
			rate[v.name] = float64(v.sent) / v.took.Seconds()
			b.ReportMetric(rate[v.name], v.name+"-req/s")
		}
		b.ReportMetric(100*(1-rate["read-all"]/rate["off"]), "read-all-cost-%")
		b.ReportMetric(100*(1-rate["per-subject"]/rate["off"]), "per-subject-cost-%")
	})
	for _, v := range variants {
		b.Run("handler/policy="+v.name, func(b *testing.B) {
			h := v.in.srv.Config.Handler
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, v.path, nil)
				for pb.Next() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}

// getN sends n GETs of url from 16 goroutines and returns how long they
// took.
func getN(b *testing.B, client *http.Client, url string, n int) time.Duration {
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				resp, err := client.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
