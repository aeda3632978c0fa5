# Thin wrapper over meson/ninja.  `make run` and `make test` install what they need.
BUILD ?= build
PY ?= /usr/bin/python3
# `make fuzz`: libFuzzer builds of tests/fuzz in their own build dir, each
# target run for FUZZ_SECONDS (FUZZ_TARGETS="proto fs" for a subset,
# FUZZ_MERGE=1 to merge new coverage into the checked-in corpora).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: all deps build install test test-unprivileged run bench soak fuzz format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@# The jail's guest dir is read-only: ship the agent's bytecode ready-made.
	@$(PY) -m compileall -q guest/python

# libbrig, the CLI, the guest agents and the Python SDK (import brig).
install: build
	meson install -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs
	$(PY) -m pytest -p no:cacheprovider -q tests
	@# The suites that drive the CLI once more, through a brig daemon.
	$(PY) -m pytest -p no:cacheprovider -q --brig-daemon tests/integration tests/security
	tests/run-unprivileged.sh

run: build
	$(BUILD)/brig -c 'print(sum(x**2 for x in range(10)))'

bench: build
	$(PY) bench/bench.py
	$(PY) bench/bench_python_sdk.py

# The full soak (tests/soak/soak.c); `make test` replays a short one.
# e.g. make soak SOAK_ARGS='--runs 1000 --sessions 100'
SOAK_ARGS ?=
soak: build
	$(BUILD)/tests/soak $(SOAK_ARGS)

fuzz:
	@scripts/install-deps.sh fuzz
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true
	ninja -C $(FUZZ_BUILD) fuzz
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

format:
	clang-format -i include/*.h src/*/*.c src/*/*.h tests/unit/*.[ch] tests/capi/*.[ch] tests/soak/*.c tests/fuzz/*.[ch] bench/*.c tools/*.c

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
