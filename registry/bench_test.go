package registry

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/authn/authntest"
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
		{"basic-bcrypt", on, basicHeader("reader", "pw")},
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
