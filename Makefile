# Pangea build and test entry points. Run `make` (or `make help`) for the list.
# Everything here needs only Go; Docker is used by test-docker alone.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO         ?= go
BIN        := bin/pangea
PKG        := ./cmd/pangea
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
DATA       ?= ./pangea-data
ADDR       ?= 127.0.0.1:9000
# `go test` timeout for the whole tree; make test must finish well inside 10 minutes.
TEST_TIMEOUT ?= 8m
FUZZTIME   ?= 30s
FUZZ_PKGS  ?= ./...
# Pinned so lint is reproducible; fetched from the Go module proxy by `go run`.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
IMAGE      ?= pangea:dev

.PHONY: help
help: ## List the targets
	@echo "Pangea make targets:"
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: DATA=$(DATA) ADDR=$(ADDR) FUZZTIME=$(FUZZTIME) FUZZ_PKGS=$(FUZZ_PKGS)"
	@echo "           TEST_TIMEOUT=$(TEST_TIMEOUT) BENCH_FLAGS=$(BENCH_FLAGS) VERSION=$(VERSION)"
	@echo "           SOAK_DURATION=$(SOAK_DURATION)"

.PHONY: build
build: ## Build the static binary bin/pangea (version-stamped)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)

.PHONY: run
run: build ## Build, then run `pangea lab`: 3 regions of 3 members, WAN-emulated (DATA=./pangea-data ADDR=127.0.0.1:9000)
	$(BIN) lab --data $(DATA) --addr $(ADDR)

.PHONY: fmt-check
fmt-check:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet:
	$(GO) vet ./...

# Fuzz seed corpora run as ordinary tests here; `make fuzz` does the fuzzing.
# The integration package builds the binary itself once (or uses PANGEA_BIN).
.PHONY: test
test: fmt-check vet ## gofmt check, go vet, then every test (unit, in-process, multi-process)
	$(GO) test -timeout $(TEST_TIMEOUT) -count=1 ./...

.PHONY: lint
lint: fmt-check vet ## gofmt -l and go vet; staticcheck too when the module proxy can fetch it
	@if $(GO) run $(STATICCHECK) -version >/dev/null 2>&1; then \
		echo "staticcheck ./..."; $(GO) run $(STATICCHECK) ./...; \
	else \
		echo "staticcheck unavailable (no module proxy?): gofmt and go vet only"; \
	fi

.PHONY: bench
bench: build ## Standalone node, one-member region, one-region 3-member lab (load spread over its members): 4KiB and 1MiB PUT/GET
	@for mode in "node --standalone" "node" "lab --regions 1"; do \
		dir="$$(mktemp -d)"; \
		echo "== pangea $$mode"; \
		$(BIN) $$mode --data "$$dir" --addr 127.0.0.1:0 --log-level warn >"$$dir/server.log" 2>&1 & pid=$$!; \
		trap 'kill $$pid 2>/dev/null || true; wait $$pid 2>/dev/null || true; rm -rf "$$dir"' EXIT; \
		for _ in $$(seq 1 300); do \
			[ -s "$$dir/lab.json" ] && break; \
			kill -0 $$pid 2>/dev/null || { cat "$$dir/server.log"; echo "pangea $$mode exited"; exit 1; }; \
			sleep 0.1; \
		done; \
		[ -s "$$dir/lab.json" ] || { cat "$$dir/server.log"; echo "no lab.json after 30s"; exit 1; }; \
		spread=""; [ "$${mode%% *}" = lab ] && spread=--spread; \
		$(BIN) bench --lab "$$dir" $$spread --size 4KiB,1MiB --op put,get $(BENCH_FLAGS); \
		kill $$pid; wait $$pid 2>/dev/null || true; rm -rf "$$dir"; trap - EXIT; \
	done

# The soak (integration/soak_test.go, build tag soak) is never part of make test.
# SOAK_DURATION: whole h/m/s such as 90s, 5m or 1h30m; go test gets 10 minutes more.
SOAK_DURATION ?= 5m

.PHONY: soak
soak: build ## Soak a 3-process region for SOAK_DURATION (5m): mixed, slow and idle clients, leader frozen, member killed; checks every acknowledged write
	@d='$(SOAK_DURATION)'; rest="$$d"; secs=0; \
	while [[ $$rest =~ ^([0-9]+)([hms])(.*)$$ ]]; do \
		case $${BASH_REMATCH[2]} in h) mult=3600;; m) mult=60;; *) mult=1;; esac; \
		secs=$$((secs + $${BASH_REMATCH[1]} * mult)); rest=$${BASH_REMATCH[3]}; \
	done; \
	if [ -n "$$rest" ] || [ $$secs -eq 0 ]; then echo "SOAK_DURATION=$$d: want whole h/m/s, e.g. 90s, 5m, 1h30m"; exit 2; fi; \
	echo "== soak for $$d (go test -timeout $$((secs + 600))s), binary $(BIN) at $(COMMIT)"; \
	PANGEA_BIN=$(CURDIR)/$(BIN) PANGEA_SOAK_DURATION=$$d $(GO) test -tags soak -run '^TestSoak$$' -count=1 -v \
		-timeout $$((secs + 600))s ./integration/

.PHONY: fuzz
fuzz: ## Run every Fuzz target (in FUZZ_PKGS) for FUZZTIME (default 30s) each
	@found=0; \
	for pkg in $$($(GO) list $(FUZZ_PKGS)); do \
		for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz' || true); do \
			found=1; \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done; \
	[ $$found = 1 ] || echo "no Fuzz targets found"

bin/pangea-linux: FORCE
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ $(PKG)

.PHONY: FORCE
FORCE:

# Pinned code generators for `make proto`. protoc comes from Debian's
# protobuf-compiler (3.21.12 on bookworm), installed here when missing.
PROTOC_GEN_GO      ?= google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC ?= google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PROTO_BIN          := $(CURDIR)/bin/proto
# Every proto/<pkg>/<name>.proto, relative to proto/ (where protoc runs).
PROTO_FILES        := $(patsubst proto/%,%,$(wildcard proto/*/*.proto))

.PHONY: proto-tools
proto-tools: # protoc (Debian's protobuf-compiler) when missing, and the pinned generators in bin/proto
	@command -v protoc >/dev/null 2>&1 || { echo "protoc missing: apt-get install protobuf-compiler"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler; }
	GOBIN=$(PROTO_BIN) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(PROTO_BIN) $(GO) install $(PROTOC_GEN_GO_GRPC)

.PHONY: proto
proto: proto-tools ## Regenerate proto/*/*.pb.go with pinned protoc-gen-go and protoc-gen-go-grpc (installs protoc if missing)
	cd proto && PATH="$(PROTO_BIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative $(PROTO_FILES)

# proto/gen_test.go regenerates into a temporary directory and compares with the
# committed files; PANGEA_PROTO_CHECK=1 turns its skip (tools missing) into a failure.
.PHONY: proto-check
proto-check: proto-tools ## Check the committed proto/*/*.pb.go are what the pinned generators make of the .proto files
	PANGEA_PROTO_CHECK=1 $(GO) test -count=1 -v -run '^TestGenerated' ./proto/

.PHONY: test-docker
test-docker: bin/pangea-linux ## Build the FROM-scratch image, then smoke-test it (standalone, a 3-member region, a leader container killed, a region of docker-compose.yml) and test docker-compose.yml's planet (gossip, leaders, WAN RTT, one namespace through the edges, a region killed: 503s, the catalog answers)
	docker build -f deploy/Dockerfile -t $(IMAGE) .
	IMAGE=$(IMAGE) deploy/docker-smoke.sh
	IMAGE=$(IMAGE) NO_BUILD=1 deploy/docker-planet.sh

.PHONY: bench-isolated
bench-isolated: test-docker ## 4KiB PUT/GET with every member in its own CPU-limited container (CPUS=0.5 CLIENT_CPUS=0.5 ROUNDS=3)
	IMAGE=$(IMAGE) deploy/bench-isolated.sh

.PHONY: clean
clean: ## Remove build output (bin/); leaves ./pangea-data alone
	rm -rf bin/
