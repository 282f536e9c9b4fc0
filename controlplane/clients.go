package controlplane

import (
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/meshfile"
)

// adminClients keeps one admin client per site across gatherings, so that
// a look at a site does not open new connections (and TLS and SASL
// handshakes) every refresh_interval. A site whose Kafka block changed in
// the mesh file gets a new client; a site gone from it loses its client.
type adminClients struct {
	mu sync.Mutex
	m  map[string]*siteAdmin
}

type siteAdmin struct {
	cfg kafkaclient.Config
	cl  *kgo.Client
	adm *kadm.Client
}

// get returns the admin client of site, made with opts when there is none
// for its configuration.
func (a *adminClients) get(site meshfile.Site, opts []kgo.Opt) (*kadm.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.m[site.Name]; ok {
		if reflect.DeepEqual(c.cfg, site.Kafka) {
			return c.adm, nil
		}
		c.cl.Close()
		delete(a.m, site.Name)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if a.m == nil {
		a.m = map[string]*siteAdmin{}
	}
	a.m[site.Name] = &siteAdmin{cfg: site.Kafka, cl: cl, adm: kadm.NewClient(cl)}
	return a.m[site.Name].adm, nil
}

// keep closes the clients of sites not in m.
func (a *adminClients) keep(m *meshfile.Mesh) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, c := range a.m {
		if _, ok := m.Site(name); !ok {
			c.cl.Close()
			delete(a.m, name)
		}
	}
}

// close closes every client.
func (a *adminClients) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, c := range a.m {
		c.cl.Close()
		delete(a.m, name)
	}
}
