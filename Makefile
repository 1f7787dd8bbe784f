# Tinyo — build, test, benchmark, fuzz, demo. `make help` lists the targets.
SHELL := /bin/bash
BIN   := out/bin
DOTNET ?= dotnet
EXES  := ctl/tio node/tinyonode kv/tinyokv rt/tinyort
FUZZ_SECONDS ?= 60

.PHONY: all build test bench bench-net fuzz demo conformance deps clean help sizes

all: build ## Build the four NativeAOT binaries (dynamically linked: see Directory.Build.props) into out/bin

build: $(addprefix $(BIN)/,tio tinyonode tinyokv tinyort) ## Same as `make`
	@$(MAKE) --no-print-directory sizes

# One static rule per binary: rebuilt only when a source of its component (or of what it links) changed.
COMMON := Directory.Build.props Directory.Packages.props global.json
src = $(shell find $(1) -type f \( -name '*.cs' -o -name '*.csproj' \) -not -path '*/tests/*' -not -path '*/obj/*' -not -path '*/bin/*' 2>/dev/null)
# The folders follow the project references (docs/architecture.md, "Dependencies"); leaves: linux/, api/.
$(BIN)/tio:       $(COMMON) $(call src,ctl) $(call src,api) $(call src,linux)
$(BIN)/tinyonode: $(COMMON) $(call src,node) $(call src,api) $(call src,kv/Tinyo.Kv.Client) $(call src,rt/Tinyo.Rt) $(call src,linux)
$(BIN)/tinyokv:   $(COMMON) $(call src,kv) $(call src,linux)
$(BIN)/tinyort:   $(COMMON) $(call src,rt) $(call src,linux)
# The NativeAOT link needs gcc, libc6-dev and zlib1g-dev: order-only, so a present package never forces a relink.
$(addprefix $(BIN)/,tio tinyonode tinyokv tinyort): | deps
$(BIN)/%:
	@mkdir -p $(BIN)
	@echo "publish $* (NativeAOT)"
	@p=$$(dirname $$(find ctl node kv rt -name $*.csproj -not -path '*/obj/*' | head -1)); \
	  $(DOTNET) publish $$p/$*.csproj -c Release -o artifacts/publish-aot/$* -v quiet -nologo
	@install -m 0755 artifacts/publish-aot/$*/$* $@

sizes: ## Print the binaries' sizes
	@ls -l $(BIN) | awk 'NR>1 {printf "  %-10s %6.1f MiB\n", $$9, $$5/1048576; t+=$$5} END {printf "  %-10s %6.1f MiB\n", "total", t/1048576}'

test: deps build ## Build, then run every test suite (as root: real containers, registries, clusters)
	@TINYO_BIN=$(CURDIR)/$(BIN) scripts/test.sh

# The C floor of a container start (clone of all namespaces + pivot_root + exec), next to the in-node start suite.
FLOOR := out/bench/start-floor
$(FLOOR): bench/floor/start-floor.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -Wextra -Werror -o $@ $<

bench: deps build $(FLOOR) ## Run the benchmarks against their peers (same run); results in docs/benchmarks.md
	@TINYO_BIN=$(CURDIR)/$(BIN) scripts/bench.sh

bench-net: deps ## Only the cluster-network benchmarks (bench/net.sh: set-up, TCP, 1000 replicas vs podman/docker bridges)
	@scripts/bench.sh net

fuzz: deps ## Run every fuzz campaign for FUZZ_SECONDS seconds each (afl++)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

demo: deps build ## Build, make the busybox image, serve it from a local registry, pull, list and run it
	@TINYO_BIN=$(CURDIR)/$(BIN) scripts/demo.sh

conformance: deps $(BIN)/tinyort ## OCI runtime-tools validation suite, tinyort and runc in the same run (RUNTIME_TOOLS_DIR/_SRC: scripts/oci-conformance.sh)
	@TINYORT=$(CURDIR)/$(BIN)/tinyort scripts/oci-conformance.sh

deps: ## Install (idempotent) every Debian package the tests, benchmarks and demo need
	@scripts/deps.sh

clean: ## Remove build outputs
	rm -rf artifacts out

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'
