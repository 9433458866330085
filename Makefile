# Backend.AI agent (Go, Docker-free). `make help` lists the targets.

SHELL    := /bin/bash
GO       ?= go
BIN      := bin/backendai-agent
TAGS     := seccomp
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
DEV_CONF ?= configs/agent/dev.toml
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# cgo is mandatory (libcontainer's nsenter, go-nvml); silence go-nvml's
# deprecation warnings.
export CGO_ENABLED := 1
export CGO_CFLAGS  := -O2 -g -Wno-deprecated-declarations
export GOFLAGS     := -tags=$(TAGS)

IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: help deps build run test test-unit fuzz test-privileged test-vm test-gpu bench lint check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

deps: ## install the Debian packages for building and testing (idempotent)
	@.ci/deps.sh test

build: ## build bin/backendai-agent and its helpers: agent-run, kernel-init, container-init, etcd, krunner
	@.ci/deps.sh build
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/backendai-agent
	$(GO) build -tags $(TAGS),slimrun -ldflags '$(LDFLAGS)' -o bin/backendai-agent-run ./cmd/backendai-agent
	$(CC) -O2 -static -s -Wall -o bin/backendai-kernel-init cmd/backendai-kernel-init/init.c
	$(GO) build -ldflags '-s -w' -o bin/backendai-container-init ./cmd/backendai-container-init
	$(GO) build -ldflags '-s -w' -o bin/backendai-etcd ./cmd/backendai-etcd
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o bin/backendai-krunner ./cmd/backendai-krunner

run: build ## build and start the agent with configs/agent/dev.toml
	$(BIN) server -f $(DEV_CONF)

test: ## every tier this machine supports: unit, privileged (root), VM lane
	@.ci/deps.sh $(if $(IS_ROOT),test,build)
	$(MAKE) test-unit
ifeq ($(IS_ROOT),yes)
	$(MAKE) test-privileged
	$(MAKE) test-vm
else
	@echo "!! not root: privileged tier and VM lane NOT run (run make test as root)" >&2
endif

test-unit: ## unit tests: no root, no GPU (gated tiers skip with a message), then short fuzz runs
	AGENT_TEST_PYTHON=$(if $(IS_ROOT),1,) AGENT_TEST_REDIS=$(if $(IS_ROOT),1,) AGENT_TEST_ETCD_BINARY=$(if $(IS_ROOT),1,) $(GO) test -count=1 ./...
	$(MAKE) fuzz

FUZZTIME ?= 3s
fuzz: ## every Fuzz* target for FUZZTIME (default 3s) each; a crasher fails and is kept in testdata/fuzz
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -d' ' -f2); do \
	    echo "fuzz $$pkg $$f"; \
	    for try in 1 2; do \
	      if $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg >$$log 2>&1; then break; fi; \
	      tail -n 30 $$log; \
	      if [ -d $$dir/testdata/fuzz/$$f ] || [ $$try = 2 ]; then echo "!! $$f failed (crashers, if any, in $$dir/testdata/fuzz/$$f)"; exit 1; fi; \
	      echo "!! $$f: the fuzzing run itself failed without a crasher (see above); once more"; \
	    done; \
	  done; done

test-privileged: ## TestPrivileged* as root; fails when not root or when none ran
	@set -o pipefail; AGENT_TEST_PRIVILEGED=1 $(GO) test -count=1 -v -run '^TestPrivileged' ./... | tee .privileged.log
	@n=$$(grep -c '^--- PASS: TestPrivileged' .privileged.log); rm -f .privileged.log; \
	  echo "privileged tier: $$n top-level tests passed"; test $$n -gt 0

test-vm: ## cgroup v2 VM lane: boots QEMU (TCG microvm) and runs TestVM* inside
	AGENT_TEST_VM=1 $(GO) test -count=1 -timeout 30m -v -run '^TestVMLane' ./test/vm/

test-gpu: ## TestGPU* on a host with an NVIDIA GPU; fails without one
	AGENT_TEST_GPU=1 $(GO) test -count=1 -v -run '^TestGPU' ./...

bench: ## benchmarks, each printing its figure or its ratio against the named baseline (root)
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'PrivilegedServerReady' -benchtime 10x ./cmd/backendai-agent/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'RootfsSecondKernel' -benchtime 50x ./runtime/image/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'PullVsSkopeoUmoci' -benchtime 3x -timeout 30m ./runtime/image/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'RunVsRunc' -benchtime 10x ./cmd/backendai-agent/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'RunnerKernel' -benchtime 30x ./cmd/backendai-agent/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'Attach|Publish' -benchtime 50x ./netns/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'Sweep200' -benchtime 5x ./cgroup/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'CollectorSweep200' -benchtime 200x ./stats/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'CreateToRunning' -benchtime 50x ./runtime/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'Concurrent64' -benchtime 1x -timeout 20m ./runtime/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'Restart200' -benchtime 3x -timeout 20m ./runtime/
	$(GO) test -run '^$$' -bench 'PingMethod' -benchtime 5000x ./rpc/agent/
	$(GO) test -run '^$$' -bench 'PingRoundTrip|Call1000' -benchtime 3000x ./rpc/callosum/
	AGENT_TEST_REDIS=1 $(GO) test -run '^$$' -bench 'StatsWrite200' -benchtime 50x ./rpc/events/
	$(GO) test -run '^$$' -bench 'Edits|NewBinder' ./gpu/
	AGENT_TEST_PRIVILEGED=1 $(GO) test -run '^$$' -bench 'GPUBindingCost' -benchtime 20x ./runtime/

lint: ## gofmt, go vet, staticcheck, go mod tidy check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@cp go.mod .go.mod.bak; cp go.sum .go.sum.bak; $(GO) mod tidy; \
	  if ! cmp -s go.mod .go.mod.bak || ! cmp -s go.sum .go.sum.bak; then \
	    mv .go.mod.bak go.mod; mv .go.sum.bak go.sum; echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; fi; \
	  rm -f .go.mod.bak .go.sum.bak

check: lint test-unit ## lint and unit tests

clean: ## remove build outputs
	rm -rf bin
