# Thin wrapper over meson/ninja.  `make run` and `make test` install what they need.
BUILD ?= build
PY ?= /usr/bin/python3

.PHONY: all deps build test test-unprivileged run bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@# The jail's guest dir is read-only: ship the agent's bytecode ready-made.
	@$(PY) -m compileall -q guest/python

test: build
	meson test -C $(BUILD) --print-errorlogs
	$(PY) -m pytest -p no:cacheprovider -q tests
	tests/run-unprivileged.sh

run: build
	$(BUILD)/brig -c 'print(sum(x**2 for x in range(10)))'

bench: build
	$(PY) bench/bench.py

format:
	clang-format -i include/*.h src/*/*.c src/*/*.h tests/unit/*.[ch] tests/capi/*.c bench/*.c tools/*.c

clean:
	rm -rf $(BUILD)
