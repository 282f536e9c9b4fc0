package controlplane

import (
	"crypto/sha256"
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
// gatherings while their site's tls section and the content of its files
// stay the same, so connections are reused; a CA or client certificate
// renewed on disk is used from the next gathering, without a restart.
type siteTransport struct {
	def *http.Transport

	mu     sync.Mutex
	byHost map[string]route                 // host:port of a site's URL
	byTLS  map[tlsconfig.Files]tlsTransport // one per distinct tls section
}

// tlsTransport is the transport of one tls section, made from the files
// whose content digest is stamp.
type tlsTransport struct {
	t     *http.Transport
	stamp [sha256.Size]byte
}

// route is where a host's requests go: its transport, or why none could
// be made (the tls section's files could not be read).
type route struct {
	t   *http.Transport
	err error
}

func newSiteTransport() *siteTransport {
	return &siteTransport{def: http.DefaultTransport.(*http.Transport).Clone(), byHost: map[string]route{}, byTLS: map[tlsconfig.Files]tlsTransport{}}
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
		field := fmt.Sprintf("mesh file sites[%d].tls", i)
		var r route
		sum, err := s.TLS.Digest(field)
		switch cur, ok := st.byTLS[s.TLS]; {
		case err != nil:
			r.err = err
		case ok && cur.stamp == sum:
			r.t = cur.t
		default:
			tc, err := s.TLS.Client(field)
			if err != nil {
				r.err = err
				break
			}
			if ok {
				cur.t.CloseIdleConnections() // made with the files' old content
			}
			r.t = st.def.Clone()
			r.t.TLSClientConfig = tc
			st.byTLS[s.TLS] = tlsTransport{t: r.t, stamp: sum}
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
			t.t.CloseIdleConnections()
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
		t.t.CloseIdleConnections()
	}
}
