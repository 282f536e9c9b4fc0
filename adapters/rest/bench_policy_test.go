package rest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/policy"
)

// BenchmarkProducePolicy measures what the policy adds to a REST produce
// (v2, one record, answered once Kafka has it), in one run: no policy,
// then the policy deciding. Each request carries its principal, as
// authentication would leave it, in both. Kafka is kfake here; the
// end-to-end figure against real Kafka is integration's
// BenchmarkRESTProduce.
func BenchmarkProducePolicy(b *testing.B) {
	const text = `rules:
  - {name: admins, principals: [admin], actions: ["*"], resources: ["*"]}
  - {name: viewers, principals: [viewer], actions: [read, consume, describe], resources: ["*"]}
  - {name: shop, principals: [shop, "team-shop-*"], actions: [produce], resources: ["topic:orders*", "topic:audit"]}
deny:
  - {principals: ["*"], actions: [produce], resources: ["topic:pii.*"]}
`
	p, err := policy.Parse("policy.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"off", nil},
		{"on", []Option{WithPolicy(policy.StaticAuthorizer(p))}},
	} {
		b.Run("policy="+c.name, func(b *testing.B) {
			cluster := kafkatest.Cluster(b, kfake.SeedTopics(3, "orders"))
			e := newEnvWith(b, cluster, nil, c.opts...)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				e.a.Handler().ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), identity.Principal{Name: "team-shop-eu", Method: identity.MethodBasic})))
			}))
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			body := []byte(`{"records":[{"value":"YQ=="}]}`)
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(srv.URL+"/topics/orders", mediaBinaryV2, bytes.NewReader(body))
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
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
