# authgate — see README.md. The two commands a newcomer needs: make run, make test.

SHELL       := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO          ?= go
BIN         := $(CURDIR)/bin
# Tools built from the Go module proxy are cached outside the work tree.
TOOLS_DIR   ?= $(HOME)/.cache/authgate/bin
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
PKGS        := ./...
# Fuzz time per target: short in make test, longer in make fuzz.
FUZZTIME    ?= 3s

.PHONY: all
all: build

##@ The two commands

.PHONY: run
run: build ## Run authgate dev: standalone mode, sample policies, a development issuer
	$(BIN)/authgate dev

.PHONY: test
test: setup-test fmt-check vet ## Install what the tests need, then run every test
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)
	$(MAKE) --no-print-directory lint

##@ Development

.PHONY: build
build: ## Build a static bin/authgate
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/authgate ./cmd/authgate

.PHONY: setup-test
setup-test: ## Install test dependencies (Debian nginx-light)
	bash hack/setup-nginx.sh

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: fmt-check
fmt-check: ## Fail when a file is not gofmt-ed
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## go vet
	$(GO) vet $(PKGS)

.PHONY: lint
lint: ## golangci-lint (built from the module proxy by hack/tools.sh)
	TOOLS_DIR=$(TOOLS_DIR) bash hack/tools.sh golangci-lint
	$(TOOLS_DIR)/golangci-lint run $(PKGS)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (make fuzz FUZZTIME=1m)
	bash hack/fuzz.sh $(FUZZTIME)

.PHONY: bench
bench: ## Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

.PHONY: generate
generate: ## Regenerate generated code (golden files: make golden)
	$(GO) generate $(PKGS)

.PHONY: golden
golden: ## Rewrite golden test files from the current code
	$(GO) test ./pkg/translate/ -update

.PHONY: verify
verify: fmt-check vet ## Fail when generated files are stale
	$(GO) mod tidy -diff
	$(GO) test ./pkg/translate/ -update
	@git diff --exit-code -- '*/testdata/*' || { echo "golden files are stale: run make golden and commit"; exit 1; }

.PHONY: clean
clean:
	rm -rf $(BIN)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
