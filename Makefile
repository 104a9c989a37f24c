# pago's tasks. `make help` lists them.
SHELL := /bin/bash
GO ?= go
SQLC_VERSION := v1.31.1
SQLC := bin/sqlc-$(SQLC_VERSION)
# What generate writes; check compares their hashes before and after.
GENERATED = find graph views store/queries store/pgqueries -name '*.go' | sort | xargs sha256sum
TEST_TIMEOUT ?= 30m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

.PHONY: run
run: ## run pago with embedded defaults (SQLite, in-process Redis and PG sandbox) on :8080
	$(GO) run ./cmd/pago serve

.PHONY: test
test: ## run every test (SQLite always; PostgreSQL+Redis when reachable, required when CI is set; checkout.js type-checked against the pinned Toss SDK types via npm)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# FUZZTIME is per target; `make test` replays the seed corpus only.
FUZZTIME ?= 1m
FUZZ_TARGETS := FuzzGraphQL FuzzGraphQLBody FuzzWebhook FuzzCheckoutPages

.PHONY: fuzz
fuzz: ## fuzz the GraphQL endpoint, webhooks and checkout pages of a running pago, FUZZTIME each (default 1m)
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -parallel 2 ./cmd/pago; \
	done

$(SQLC):
	@mkdir -p bin
	CGO_ENABLED=0 GOBIN=$(CURDIR)/bin $(GO) install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)
	mv bin/sqlc $(SQLC)

.PHONY: generate
generate: $(SQLC) ## regenerate gqlgen, templ and sqlc code
	$(GO) tool gqlgen generate
	$(GO) tool templ generate -path views
	cd sqlc && ../$(SQLC) generate

.PHONY: check
check: $(SQLC) ## generated code current, gofmt, go.mod tidy, go vet, sqlc compile on both engines
	@before=$$($(GENERATED)); $(MAKE) --no-print-directory generate >/dev/null; after=$$($(GENERATED)); \
	if [ "$$before" != "$$after" ]; then echo "generated code was stale (now regenerated; commit it):"; \
		diff <(echo "$$before") <(echo "$$after") | grep '^[<>]' || true; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then \
		echo "gofmt needed: $$unformatted"; exit 1; fi
	@if ! $(GO) mod tidy -diff >/dev/null; then echo "go.mod/go.sum not tidy (run make tidy and commit):"; \
		$(GO) mod tidy -diff || true; exit 1; fi
	$(GO) vet ./...
	cd sqlc && ../$(SQLC) compile
	@echo "check: ok"

.PHONY: tidy
tidy: ## go mod tidy
	$(GO) mod tidy

.PHONY: build
build: ## build bin/pago
	$(GO) build -o bin/pago ./cmd/pago

# SEED=N replays a chaos run's plan; 0 picks a new seed. CHAOS_FLAGS add
# -chaos.* flags, e.g. make chaos CHAOS_FLAGS='-chaos.runs=5 -chaos.duration=5m'.
SEED ?= 0
CHAOS_FLAGS ?=

.PHONY: chaos
chaos: ## the chaos suite, long, on a new seed: 2 pago + PostgreSQL + its own redis-server + PG sandbox, faults injected, invariants checked
	go test -count=1 -timeout 60m -run '^TestChaos$$' -v ./cmd/pago \
		-chaos.seed=$(SEED) -chaos.duration=2m -chaos.shoppers=12 -chaos.faults=80 $(CHAOS_FLAGS)

# BENCH_FLAGS go to `pago bench wallet`, e.g. make bench BENCH_FLAGS='--clients 64 --ops 5000'.
BENCH_FLAGS ?= --duration 15s

.PHONY: bench
bench: build ## pago bench wallet on a fresh PostgreSQL database + Redis, then pago verify
	scripts/bench.sh $(BENCH_FLAGS)
