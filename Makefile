# release-agent: see README.md.
#   make build    bin/release-agent and bin/releasectl
#   make demo     deploy the bundled example site twice into a temp root, roll back
#   make test     every test, with -race (installs the Go tools it needs into .tools/)
#   make deps     Debian packages the tests use (root; CI runs it)
#   make lint     gofmt + go vet
#   make fuzz     every fuzz target for FUZZTIME (10s) each (scripts/fuzz.sh)
#   make bench    benchmarks against their baselines -> BENCHMARKS.md
#   make soak     the long load and crash runs (1,000 swaps, 200 kills)
#   make package  .deb and .rpm into dist/

SHELL      := /bin/bash
GO         ?= go
TOOLS      := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# version_ldflags (packaging/Makefile.inc) is the one version recipe, for
# `make build` and the packages alike.
LDFLAGS     = $(call version_ldflags,$(VERSION))

# MinIO: RELEASE.2025-09-07T16-13-09Z is commit 07c3a429bfed. The proxy refuses
# the RELEASE tag itself, so it is pinned by its pseudo-version. Later builds
# never flush the bucket-notification stream.
MINIO_VERSION := v0.0.0-20250907161309-07c3a429bfed
# mc: pinned like MinIO, by the pseudo-version @latest resolved to when it
# was pinned (commit cf909e1063a9 of 2025-03-13); bump it deliberately, the
# stamp file is named by version so a change reinstalls.
MC_VERSION    := v0.0.0-20250313080218-cf909e1063a9
HTMLTEST_VERSION := v0.17.0

DEBS := nginx-light caddy openssh-server wrk python3.11-doc postgresql-doc-15 rust-doc lintian hyperfine zstd systemd strace zsh fish

.PHONY: all build demo test test-short fuzz deps tools lint bench soak clean
all: build

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o bin/releasectl ./cmd/releasectl
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o bin/release-agent ./cmd/agent

demo: build
	@bash scripts/demo.sh

# Go tools, installed once into .tools/bin (git-ignored); a stamp file per
# version makes this idempotent and cheap.
tools: $(TOOLS)/.minio-$(MINIO_VERSION) $(TOOLS)/.mc-$(MC_VERSION) $(TOOLS)/.htmltest-$(HTMLTEST_VERSION)

$(TOOLS)/.minio-$(MINIO_VERSION):
	@mkdir -p $(TOOLS)
	@echo "building minio $(MINIO_VERSION) (about 7 minutes the first time)"
	GOBIN=$(TOOLS) $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	@touch $@

$(TOOLS)/.mc-$(MC_VERSION):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/minio/mc@$(MC_VERSION)
	@touch $@

# htmltest's module cannot be installed with @latest through the proxy: build
# it from a throwaway module.
$(TOOLS)/.htmltest-$(HTMLTEST_VERSION):
	@mkdir -p $(TOOLS)
	@d=$$(mktemp -d) && cd $$d && printf 'module tmp\n\ngo 1.22\n' > go.mod && \
	  $(GO) get github.com/wjdp/htmltest@$(HTMLTEST_VERSION) && \
	  $(GO) build -o $(TOOLS)/htmltest github.com/wjdp/htmltest && rm -rf $$d
	@touch $@

deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps installs Debian packages: run it as root" >&2; exit 1; fi
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: tools
	$(GO) test -race -timeout 45m ./...

test-short:
	$(GO) test -race -short ./...

# Each fuzz target in turn (go test -fuzz takes one), found by the script.
FUZZTIME ?= 10s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build tools
	bash scripts/bench.sh

soak: build tools
	SOAK=1 $(GO) test -race -timeout 120m -run 'Soak|Load|Crash' ./test/loadtest/... ./test/crashtest/...
	FLEET_HOSTS=8 FLEET_ROUNDS=50 $(GO) test -race -timeout 60m -run 'TestFleet' ./test/fleet/...

clean:
	rm -rf bin dist .bench

include packaging/Makefile.inc

# nfpm builds the packages; packaging's tests build a .deb with it.
tools: $(NFPM)
