package controlplane

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/meshfile"
)

// siteTransport is the transport of the control plane's requests to the
// sites' services: a request to a URL that mesh.yaml lists for a site with
// a tls section goes out with that section's CA and client certificate;
// any other with the default transport. Transports are kept across
// gatherings while their site's tls section stays the same, so
// connections are reused.
type siteTransport struct {
	def *http.Transport

	mu     sync.Mutex
	byHost map[string]route                    // host:port of a site's URL
	byTLS  map[tlsconfig.Files]*http.Transport // one per distinct tls section
}

// route is where a host's requests go: its transport, or why none could
// be made (the tls section's files could not be read).
type route struct {
	t   *http.Transport
	err error
}

func newSiteTransport() *siteTransport {
	return &siteTransport{def: http.DefaultTransport.(*http.Transport).Clone(), byHost: map[string]route{}, byTLS: map[tlsconfig.Files]*http.Transport{}}
}

// RoundTrip sends req with the transport of its host's site.
func (st *siteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st.mu.Lock()
	r, ok := st.byHost[req.URL.Host]
	st.mu.Unlock()
	switch {
	case !ok:
		return st.def.RoundTrip(req)
	case r.err != nil:
		return nil, r.err
	}
	return r.t.RoundTrip(req)
}

// keep routes the URLs of m's sites by their tls sections, reading the
// files of sections it has not seen, and closes the transports no site
// uses any more.
func (st *siteTransport) keep(m *meshfile.Mesh) {
	byHost := map[string]route{}
	used := map[tlsconfig.Files]bool{}
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, s := range m.Sites {
		if s.TLS == (tlsconfig.Files{}) {
			continue
		}
		r := route{t: st.byTLS[s.TLS]}
		if r.t == nil {
			tc, err := s.TLS.Client(fmt.Sprintf("mesh file sites[%d].tls", i))
			if err != nil {
				r.err = err
			} else {
				r.t = st.def.Clone()
				r.t.TLSClientConfig = tc
				st.byTLS[s.TLS] = r.t
			}
		}
		if r.t != nil {
			used[s.TLS] = true
		}
		urls := []string{s.Registry}
		for _, e := range s.Adapters {
			urls = append(urls, e.Admin)
		}
		for _, e := range s.Replicators {
			urls = append(urls, e.Admin)
		}
		for _, raw := range urls {
			if u, err := url.Parse(raw); err == nil && u.Host != "" {
				byHost[u.Host] = r
			}
		}
	}
	for f, t := range st.byTLS {
		if !used[f] {
			t.CloseIdleConnections()
			delete(st.byTLS, f)
		}
	}
	st.byHost = byHost
}

// close closes the idle connections of every transport.
func (st *siteTransport) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.def.CloseIdleConnections()
	for _, t := range st.byTLS {
		t.CloseIdleConnections()
	}
}
