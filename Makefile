# medvault: `make run` (set up, build, run the main job) and `make check` (set up, build, all tests).
NINJA_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD      ?= build
ASAN_BUILD ?= build-asan
CMAKE_GEN  := -G Ninja

.PHONY: all setup setup-browser build run check check-plain check-asan bench bench-peers install docs clean

all: build

setup:
	@bash scripts/setup.sh

# The browser and interop tests' needs (Debian's chromium, playwright-core, fhir-kit-client and
# @noble/curves, @noble/hashes from tests/browser's lock file).
setup-browser:
	@bash scripts/setup.sh --browser

build: setup
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMV_WERROR=ON >/dev/null
	@ninja -C $(BUILD) -j $(NINJA_JOBS)

run: build
	@bash scripts/setup.sh --fhir-client
	@bash scripts/run.sh $(BUILD)/medvault

check-plain: build setup-browser
	@ctest --test-dir $(BUILD) --output-on-failure -j $(NINJA_JOBS)

check-asan: setup setup-browser
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DMV_WERROR=ON -DMV_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN_BUILD) -j $(NINJA_JOBS)
	@ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(NINJA_JOBS)

# Plain build first, then the same suite under ASan+UBSan; ctest's summary line closes each.
check: check-plain check-asan

# Everything docs/BENCHMARKS.md reports: the key servers, the guard, and medvault against restic
# and borg on the same data (bench-peers alone reruns only the last).
bench: build
	@bash bench/run.sh $(BUILD)
	@bash scripts/setup.sh --bench
	@bash bench/peers.sh $(BUILD) --write docs/BENCHMARKS.md

# medvault against restic and borg on the same data (installs the peers from Debian).
bench-peers: build
	@bash scripts/setup.sh --bench
	@bash bench/peers.sh $(BUILD) --write docs/BENCHMARKS.md

# docs/architecture.dot from the tree's includes (and an SVG of it where Graphviz is installed);
# test_layers.sh fails when the committed graph is stale.
docs:
	@python3 scripts/check-layers.py --graph > docs/architecture.dot
	@if command -v dot > /dev/null; then dot -Tsvg docs/architecture.dot -o docs/architecture.svg; \
	  else echo "docs: Graphviz's dot is not installed; wrote docs/architecture.dot only"; fi

install: build
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
