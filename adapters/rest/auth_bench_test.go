package rest

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/authn/authntest"
)

// BenchmarkProduceAuth measures REST produce (one record per request, 8
// clients per core, on kfake) with authentication off and on, in the same
// run: basic with a bcrypt hash (verified once, then from the cache), a
// static token, a JWT.
func BenchmarkProduceAuth(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	idp := authntest.New(b)
	on := authn.Config{
		Users:  []authn.User{{Name: "shop", PasswordHash: string(hash)}},
		Tokens: []authn.Token{{Name: "shop", Token: "t0ken"}},
		JWT:    &authn.JWT{JWKSURL: idp.URL, Issuer: authntest.Issuer, Audience: authntest.Audience},
	}
	for _, c := range []struct {
		name   string
		cfg    authn.Config
		header string
	}{
		{"off", authn.Config{}, ""},
		{"basic-bcrypt", on, authntest.Basic("shop", "pw")},
		{"token", on, "Bearer t0ken"},
		{"jwt", on, "Bearer " + idp.Token("shop", nil)},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, nil, func(cfg *Config) { cfg.Auth = c.cfg })
			body := []byte(`{"records":[{"value":"YQ=="}]}`)
			tr := &http.Transport{MaxIdleConnsPerHost: 256}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			if c.header != "" { // the first verification (bcrypt) is not what is measured
				if status, _, resp := e.do("POST", "/topics/orders", mediaBinaryV2, body, "Authorization", c.header); status != 200 {
					b.Fatalf("%d %s", status, resp)
				}
			}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", e.srv.URL+"/topics/orders", bytes.NewReader(body))
					req.Header.Set("Content-Type", mediaBinaryV2)
					if c.header != "" {
						req.Header.Set("Authorization", c.header)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
