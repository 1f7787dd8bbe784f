# Tinyo — build, test, benchmark, fuzz, demo. `make help` lists the targets.
SHELL := /bin/bash
BIN   := out/bin
DOTNET ?= dotnet
EXES  := ctl/tio node/tinyonode kv/tinyokv rt/tinyort
FUZZ_SECONDS ?= 60

.PHONY: all build test bench bench-net fuzz demo conformance deps clean help sizes separate dist

all: build ## Build the multi-call NativeAOT binary (dynamically linked: see Directory.Build.props) and its four names into out/bin

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
# One multi-call binary (tinyo/: the four programs, chosen by argv[0]) holds them all, so the .NET runtime, the BCL
# and the shared libraries are linked once; out/bin/tio, tinyonode, tinyokv and tinyort are hard links to it (hard,
# not symbolic: /proc/self/exe, which the runtime re-executes, then names the program it was started as).
$(BIN)/tinyo: $(COMMON) $(call src,tinyo) $(call src,ctl) $(call src,node) $(call src,kv) $(call src,rt) $(call src,api) $(call src,linux)
$(addprefix $(BIN)/,tio tinyonode tinyokv tinyort): $(BIN)/tinyo
	@ln -f $< $@
# The NativeAOT link needs gcc, libc6-dev and zlib1g-dev: order-only, so a present package never forces a relink.
$(BIN)/tinyo: | deps
$(BIN)/tinyo:
	@mkdir -p $(BIN)
	@echo "publish tinyo (NativeAOT, multi-call)"
	@$(DOTNET) publish tinyo/tinyo.csproj -c Release -o artifacts/publish-aot/tinyo -v quiet -nologo
	@install -m 0755 artifacts/publish-aot/tinyo/tinyo $@

# Each program can still be published alone from its own project (four binaries, each with its own runtime copy).
SEP := out/separate
separate: $(addprefix $(SEP)/,tio tinyonode tinyokv tinyort) ## Publish the four programs as separate binaries into out/separate (not what make installs)
$(SEP)/%: | deps
	@mkdir -p $(SEP)
	@echo "publish $* (NativeAOT, alone)"
	@p=$$(dirname $$(find ctl node kv rt -name $*.csproj -not -path '*/obj/*' | head -1)); \
	  $(DOTNET) publish $$p/$*.csproj -c Release -o artifacts/publish-aot/$* -v quiet -nologo
	@install -m 0755 artifacts/publish-aot/$*/$* $@

sizes: ## Print the binaries' sizes (a file with several names, the hard links, counted once)
	@scripts/sizes.sh $(BIN)

dist: $(BIN)/tinyo ## Release tarball out/dist/tinyo-VERSION-linux-x64.tar.gz + SHA256SUMS (install with scripts/install.sh TARBALL)
	@scripts/dist.sh $(BIN)

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
