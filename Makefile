# Meshwork: the two commands a new user needs are `make run` and `make test`.
GO        ?= go
BIN       ?= bin
E2E_DIR   ?= $(CURDIR)/.e2e
FUZZTIME  ?= 30s
GOTESTFLAGS ?=
# staticcheck runs from the Go module proxy at a pinned version (cached like any module)
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test e2e docs services-up services-down services-status install-deps bench bench-e2e bench-scale faults soak fuzz lint vulncheck fmt clean images deploy-check

all: lint test

## build: build every command into ./bin
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## run: run the two-site dev mesh (east, west) on embedded Kafka and MQTT; Ctrl-C stops it
run: build
	./$(BIN)/meshd dev $(ARGS)

## test: fast tests, Go only, no external services, race detector on
test:
	$(GO) test -race -count=1 $(GOTESTFLAGS) ./...

## e2e: end-to-end tests against real Kafka (KRaft), Mosquitto, RabbitMQ and ActiveMQ
e2e: services-up
	. $(E2E_DIR)/env.sh && cd integration && $(GO) test -race -count=1 -timeout 20m $(GOTESTFLAGS) ./...

## faults: the full fault matrix (kill -9 of each service, partitions, broker restarts under load); its table in bench/results/faults.md
faults: services-up
	mkdir -p bench/results
	printf '| fault | load | sent | acked | delivered | dup | lost | took |\n|---|---|---|---|---|---|---|---|\n' > bench/results/faults.md
	. $(E2E_DIR)/env.sh && cd integration && MESH_FAULTS=full MESH_FAULTS_TABLE=$(CURDIR)/bench/results/faults.md \
		$(GO) test -race -count=1 -timeout 40m -v -run 'TestIntegrationFault|TestIntegrationMQTTAdapterSurvivesKill9' $(GOTESTFLAGS) .

## soak: 30 minutes (MESH_SOAK_FOR=3m to shorten) of steady mixed load; RSS samples and plot in bench/results/soak*
MESH_SOAK_FOR ?= 30m
soak: services-up
	mkdir -p bench/results
	. $(E2E_DIR)/env.sh && cd integration && MESH_SOAK=1 MESH_SOAK_FOR=$(MESH_SOAK_FOR) \
		$(GO) test -race -count=1 -timeout 2h -v -run '^TestSoak$$' $(GOTESTFLAGS) .
	$(GO) run ./bench/plot -in bench/results/soak.txt -metric RSS-MiB -title 'RSS per service over the soak, median of each sixth, MiB (flat is good)' -out bench/results/soak-rss.svg

## install-deps: install the e2e services and witness clients (apt, Maven, pip, npm); idempotent
install-deps:
	deploy/dev/install.sh

## services-up: install if needed, then start the e2e services (idempotent)
services-up:
	deploy/dev/install.sh
	deploy/dev/up.sh

## services-down: stop the e2e services (data kept; `deploy/dev/down.sh --wipe` removes it)
services-down:
	deploy/dev/down.sh

## bench: benchmarks, each beside its reference in the same run; results and plots in bench/results/
BENCH = $(GO) test -run '^$$' -benchmem -count 3
bench:
	mkdir -p bench/results
	$(BENCH) -bench . ./internal/envelope/ | tee bench/results/envelope.txt
	$(BENCH) -bench 'GetSchemaByID|GetConstantCeiling' -benchtime 20000x ./registry/ | tee bench/results/registry-read.txt
	$(BENCH) -bench 'Register' -benchtime 500x ./registry/ | tee bench/results/registry-register.txt
	$(BENCH) -bench 'GetSchemaByIDPolicy|Decide' -benchtime 20000x ./registry/ ./policy/ | tee bench/results/policy.txt
	$(BENCH) -bench 'CheckTransitive1000|HambaCompatible1000' ./registry/avrocompat/ | tee bench/results/registry-compat.txt
	$(BENCH) -bench . ./registry/serde/ | tee bench/results/serde.txt
	MESH_TRACE_BENCH_HOPS=$${MESH_TRACE_BENCH_HOPS:-10000000} $(BENCH) -bench EventLookup -benchtime 20000x -count 1 -timeout 30m ./controlplane/traceindex/ | tee bench/results/trace-lookup.txt
	$(GO) run ./bench/plot -in bench/results/registry-read.txt -metric ns/op -title 'GET /schemas/ids/{id}: time per request at 16 concurrent clients (lower is better)' -out bench/results/registry-read.svg
	$(GO) run ./bench/plot -in bench/results/registry-read.txt -metric p99-µs -title 'GET /schemas/ids/{id}: p99 latency' -out bench/results/registry-read-p99.svg
	$(GO) run ./bench/plot -in bench/results/registry-compat.txt -metric ns/op -title 'Transitive compatibility check against 1000 versions' -out bench/results/registry-compat.svg
	$(MAKE) bench-e2e

## bench-e2e: benchmarks against the real services (Mosquitto, Kafka), beside their references
# The replicator plots show the median of the 3 runs, as the README quotes.
bench-e2e: services-up
	mkdir -p bench/results
	. $(E2E_DIR)/env.sh && cd integration && $(GO) test -run '^$$' -bench MQTTIngress -benchtime 20000x -count 3 ./... | tee ../bench/results/mqtt-ingress.txt
	$(GO) run ./bench/plot -in bench/results/mqtt-ingress.txt -metric msgs/s -title 'QoS 1 messages/s into Kafka (acks=all) vs the broker and a direct producer' -out bench/results/mqtt-ingress.svg
	. $(E2E_DIR)/env.sh && cd integration && $(GO) test -run '^$$' -bench 'AMQP' -benchtime 10000x -count 3 ./... | tee ../bench/results/amqp.txt
	$(GO) run ./bench/plot -in bench/results/amqp.txt -metric msgs/s -title 'AMQP adapter messages/s (ingress to Kafka acks=all, egress from Kafka) vs each broker own go-amqp send -> receive' -out bench/results/amqp.svg
	. $(E2E_DIR)/env.sh && cd integration && $(GO) test -run '^$$' -bench RESTProduce -benchtime 20000x -count 3 ./... | tee ../bench/results/rest-produce.txt
	$(GO) run ./bench/plot -in bench/results/rest-produce.txt -metric msgs/s -title 'Records/s into Kafka (acks=all): mesh-rest vs a direct franz-go producer' -out bench/results/rest-produce.svg
	. $(E2E_DIR)/env.sh && cd integration && $(GO) test -run '^$$' -bench RESTProducePolicy -benchtime 20000x -count 3 ./... | tee ../bench/results/rest-produce-policy.txt
	. $(E2E_DIR)/env.sh && cd integration && $(GO) test -run '^$$' -bench 'Replicator$$' -benchtime 1x -count 3 -timeout 2h ./... | tee ../bench/results/replicator.txt
	$(GO) run ./bench/plot -in bench/results/replicator.txt -stat median -metric MB/s -title 'Backlog copy east -> west, 1 KiB records: MB/s (higher is better)' -out bench/results/replicator-throughput.svg
	$(GO) run ./bench/plot -in bench/results/replicator.txt -stat median -metric CPU-s/GB -title 'Backlog copy east -> west: CPU seconds per GB copied (lower is better)' -out bench/results/replicator-cpu.svg
	$(GO) run ./bench/plot -in bench/results/replicator.txt -stat median -metric peak-RSS-MiB -title 'Copier peak RSS, MiB (lower is better)' -out bench/results/replicator-rss.svg
	$(GO) run ./bench/plot -in bench/results/replicator.txt -stat median -metric p99-lag-ms -title 'End-to-end lag east -> west at 2000 records/s, p99 ms (lower is better)' -out bench/results/replicator-lag-p99.svg
	$(GO) run ./bench/plot -in bench/results/replicator.txt -stat median -metric p99-added-ms -title 'Time the copier adds per record east -> west, p99 ms (lower is better)' -out bench/results/replicator-added-p99.svg
	$(MAKE) bench-scale

## bench-scale: the replicator at 500, 1,000 and 2,000 topics on three sites with 100 interest changes a minute, beside MirrorMaker 2 (about 30 minutes)
bench-scale: services-up
	mkdir -p bench/results
	. $(E2E_DIR)/env.sh && cd integration && $(GO) test -run '^$$' -bench ReplicatorScale -benchtime 1x -count 1 -timeout 2h ./... | tee ../bench/results/replicator-scale.txt
	$(GO) run ./bench/plot -in bench/results/replicator-scale.txt -metric ttfr-p99-ms -title 'Time from a change of interest to its first remote record, p99 ms (lower is better)' -out bench/results/replicator-scale-ttfr.svg
	$(GO) run ./bench/plot -in bench/results/replicator-scale.txt -metric arrival-gap-max-ms -title 'Longest pause of a steady topic during the changes, ms (lower is better)' -out bench/results/replicator-scale-pause.svg
	$(GO) run ./bench/plot -in bench/results/replicator-scale.txt -metric rss-MiB -title 'Copier RSS after the changes, MiB (lower is better)' -out bench/results/replicator-scale-rss.svg
	$(GO) run ./bench/plot -in bench/results/replicator-scale.txt -metric idle-cpu-% -title 'Copier idle CPU, % of a core (lower is better)' -out bench/results/replicator-scale-cpu.svg

## images: container images of every service (OCI archives in dist/images/, no Docker daemon), each checked by running its binary
MESHWORK_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
MESHWORK_COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
images:
	cd deploy/tools && $(GO) run ./cmd/mkimages -root $(CURDIR) -out $(CURDIR)/dist/images \
		-version $(MESHWORK_VERSION) -commit $(MESHWORK_COMMIT) -created $$(git log -1 --format=%ct 2>/dev/null || echo 0)

## deploy-check: build every Kubernetes overlay and check it strictly against the API types and the policy; the compose file; the systemd units
deploy-check:
	cd deploy/tools && $(GO) test -race -count=1 $(GOTESTFLAGS) ./...
	cd deploy/tools && $(GO) run ./cmd/deploycheck -root $(CURDIR)/deploy

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## lint: formatting, vet and staticcheck for every module
lint:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd integration && $(GO) vet ./...
	cd deploy/tools && $(GO) vet ./...
	$(STATICCHECK) ./...
	cd integration && $(STATICCHECK) ./...
	cd deploy/tools && $(STATICCHECK) ./...

## vulncheck: govulncheck over every module against the Go vulnerability database (skipped, with a message, when it is not reachable)
vulncheck:
	bash .ci/vulncheck

## docs: regenerate the configuration references (CONFIG.md) from the config types
docs:
	UPDATE_REFERENCE=1 $(GO) test -count=1 -run '^TestConfigReference$$' ./...

fmt:
	gofmt -w .

clean:
	rm -rf $(BIN) .mesh
