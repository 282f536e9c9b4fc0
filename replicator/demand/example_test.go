package demand_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/replicator/demand"
)

// How a replicator of site east wires the package: it follows its site's
// leases, publishes the interest of the site's consumer groups, and plans
// its flows whenever interest changes.
func Example() {
	ctx := context.Background()
	opts := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:19092")}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		panic(err)
	}
	defer cl.Close()

	w, err := demand.NewWatcher(opts, demand.Logger(slog.Default()))
	if err != nil {
		panic(err)
	}
	defer w.Close()
	go w.Run(ctx)
	<-w.Ready() // never stop a flow before the leases were read

	d, err := demand.NewDiscoverer(cl, "east", demand.Continue(w.Table()))
	if err != nil {
		panic(err)
	}
	go d.Run(ctx)

	known := []string{"shop.order.created", "shop.order.shipped"} // the topics at the other sites
	for range w.Changes() {
		now := time.Now()
		for topic, sites := range w.Table().Resolve(now, known) {
			start, _ := w.Table().Policy(now, "east", topic)
			slog.Info("interest", "topic", topic, "sites", sites, "resume", start.Resume, "since", start.Since)
		}
	}
}
