# authgate — see README.md. The two commands a newcomer needs: make run, make test.

SHELL       := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO          ?= go
BIN         := $(CURDIR)/bin
# Tools built from the Go module proxy are cached outside the work tree.
TOOLS_DIR   ?= $(HOME)/.cache/authgate/bin
CONTROLLER_GEN := $(TOOLS_DIR)/controller-gen
# What controller-gen writes; make verify fails when any of it is stale.
GENERATED   := ':(glob)api/**/zz_generated.*.go' config/crd config/rbac
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
	KUBEBUILDER_ASSETS="$$(bash hack/setup-envtest.sh)" $(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)
	$(MAKE) --no-print-directory lint verify

##@ Development

.PHONY: build
build: ## Build a static bin/authgate
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/authgate ./cmd/authgate

.PHONY: setup-test
setup-test: ## Install test dependencies: Debian nginx-light; kube-apiserver, etcd and kubectl for envtest
	bash hack/setup-nginx.sh
	bash hack/setup-envtest.sh >/dev/null

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

.PHONY: controller-gen
controller-gen: ## Build controller-gen (by hack/tools.sh)
	TOOLS_DIR=$(TOOLS_DIR) bash hack/tools.sh controller-gen

.PHONY: generate
generate: controller-gen ## Regenerate generated code: deepcopy, go:generate (golden files: make golden)
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(GO) generate $(PKGS)

.PHONY: manifests
manifests: controller-gen ## Regenerate the CRD (config/crd/bases) and ClusterRole (config/rbac) from markers
	$(CONTROLLER_GEN) crd rbac:roleName=authgate paths=./... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: golden
golden: ## Rewrite golden test files from the current code
	$(GO) test ./pkg/translate/ -update

.PHONY: verify
verify: fmt-check vet ## Fail when generated files are stale
	$(GO) mod tidy -diff
	$(GO) test ./pkg/translate/ -update
	@git diff --exit-code -- '*/testdata/*' || { echo "golden files are stale: run make golden and commit"; exit 1; }
	$(MAKE) --no-print-directory generate manifests
	@git diff --exit-code -- $(GENERATED) || { echo "generated files are stale: run make generate manifests and commit"; exit 1; }
	@new=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
	if [ -n "$$new" ]; then echo "generated files not committed:"; echo "$$new"; exit 1; fi

.PHONY: clean
clean:
	rm -rf $(BIN)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-15s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
