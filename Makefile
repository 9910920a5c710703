# SPDX-License-Identifier: Apache-2.0
# The front door. Each target installs what is missing (scripts/deps),
# configures with meson, builds with ninja, then runs.
BUILD ?= build
SAN_BUILD ?= build-san
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
MESON_FLAGS ?=

.PHONY: all deps build run test test-sanitize bench fuzz format format-check clean

all: build

deps:
	@./scripts/deps

# Meson picks modules up by the presence of their meson.build, so a new one
# (or any change to one) reconfigures.
MESON_FILES := meson_options.txt $(shell find . -name meson.build -not -path './build*' 2>/dev/null)

$(BUILD)/build.ninja: $(MESON_FILES) | deps
	if [ -f $@ ]; then meson setup --reconfigure $(BUILD) $(MESON_FLAGS); \
	else meson setup $(BUILD) $(MESON_FLAGS); fi

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@./scripts/run $(BUILD) $(RUN_ARGS)

test: build
	@./scripts/test-run $(BUILD) "" $(TEST_SUITES)

# The unit, vector, fuzz-replay and end-to-end tests under AddressSanitizer and
# UndefinedBehaviorSanitizer.
$(SAN_BUILD)/build.ninja: $(MESON_FILES) | deps
	if [ -f $@ ]; then meson setup --reconfigure $(SAN_BUILD); \
	else meson setup $(SAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false $(MESON_FLAGS); fi

test-sanitize: deps $(SAN_BUILD)/build.ninja
	ninja -C $(SAN_BUILD)
	@./scripts/test-run $(SAN_BUILD) "" unit vectors fuzz e2e

bench: build
	@./scripts/bench $(BUILD)

$(FUZZ_BUILD)/build.ninja: $(MESON_FILES) | deps
	if [ -f $@ ]; then meson setup --reconfigure $(FUZZ_BUILD); \
	else CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_lundef=false $(MESON_FLAGS); fi

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@./scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@./scripts/format-check

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
