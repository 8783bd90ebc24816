# micropay — run `make` for the list of targets.
GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 30s
BENCHTIME ?= 1s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## compile every package and the commands into ./bin
	$(GO) build $(PKGS)
	$(GO) build -o bin/ ./cmd/...

.PHONY: test
test: ## run every test (the README's test command; CI runs it)
	$(GO) test -count=1 -timeout 20m $(PKGS)

.PHONY: test-race
test-race: ## the pure packages under the race detector
	$(GO) test -race -count=1 ./contract/payment/...

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

.PHONY: bench
bench: ## benchmarks with allocations (contract gas table, protocol, intake)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: lifecycle
lifecycle: ## run one warrant's whole lifecycle on the embedded Solo chain and print the balances
	$(GO) run ./cmd/micropay lifecycle
