# Developer entry points. CMake does the building (see CMakePresets.json); this file only
# names the usual sequences. Every recipe runs under bash -euo pipefail, so any failing
# command fails the target.
#
#   make run           deps + dev build + $(MAIN_JOB)
#   make test          deps + dev build + ctest on $(TEST_LABELS); ctest's summary is last
#   make asan          ASan + UBSan build and the same tests (but those labelled tools:
#                      script-driven fits, whose C paths the other tests cover)
#   make cross         aarch64 cross build, golden|unit tests under qemu-user
#   make format        clang-format -i on every *.c/*.h (tracked, or new and not ignored)
#   make format-check  the same files, --dry-run --Werror
#   make lint          the layering rules (scripts/check-layers.sh), then cppcheck on
#                      build/dev/compile_commands.json
#   make tidy          clang-tidy on the same (optional; slower)
#   make fuzz          the libFuzzer targets of fuzz/ (clang-14, ASan + UBSan; build/fuzz)
#   make fuzz-ci       each target $(FUZZ_CI_SECONDS) s, $(FUZZ_JOBS) at a time (CI's bounded run)
#   make fuzz-long     each target $(FUZZ_LONG_SECONDS) s (30 min; docs/fuzzing.md)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

NPROC       := $(shell nproc 2>/dev/null || echo 2)
JOBS        ?= $(NPROC)
CMAKE       ?= cmake
CTEST       ?= ctest
CLANG_FORMAT ?= clang-format
CLANG_TIDY  ?= clang-tidy
CPPCHECK    ?= cppcheck

# ns3: the ns-3 backend's tests, present only when it was built (HALO_NS3, libns3-dev).
TEST_LABELS  ?= unit|system|golden|net|ns3
CROSS_LABELS ?= golden|unit
# The results tests start the halo binary directly (and through mpirun), not through the
# emulator (tests/CMakeLists.txt); so do the inputs tests (tests/test_inputs.sh: timings,
# ulimit, another user).
CROSS_EXCLUDE ?= results|inputs

# The fuzz targets' run times (scripts/fuzz.sh) and how many run at once.
FUZZ_CI_SECONDS   ?= 40
FUZZ_LONG_SECONDS ?= 1800
FUZZ_JOBS         ?= $(NPROC)

# The main job: what `make run` does after building: the quick paper reproduction (sweeps
# into a results database, figures, report; build/paper-repro-quick/). Override on the
# command line, e.g. make run MAIN_JOB='build/dev/app/halo generate -t 0 -n 64'.
MAIN_JOB ?= bash paper-repro/run.sh --quick

# Sources to format and check: tracked, or new and not ignored; never the build trees.
SOURCES = $(shell git ls-files --cached --others --exclude-standard -- '*.c' '*.h' \
            ':!:build/**' ':!:build-*/**' | sort -u)

# $(call configure,PRESET): configure build/PRESET. A tree configured from another checkout
# (a moved clone, or a build tree that was committed by mistake) makes CMake refuse to
# run, so it is removed first.
define configure
	@cache=build/$(1)/CMakeCache.txt; \
	if [ -f "$$cache" ]; then \
	    home=$$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$$cache"); \
	    if [ -z "$$home" ] || [ "$$(cd "$$home" 2>/dev/null && pwd -P)" != "$$(pwd -P)" ]; then \
	        echo "build/$(1) was configured for '$$home'; removing it"; rm -rf build/$(1); \
	    fi; \
	fi
	$(CMAKE) --preset $(1) >/dev/null
endef

.PHONY: all deps build run test asan tsan release bench cross format format-check lint tidy clean help \
        fuzz fuzz-ci fuzz-long

all: build

help:
	@sed -n '1,/^$$/p' $(firstword $(MAKEFILE_LIST))

deps:
	scripts/deps.sh

# ---- dev ----
build:
	$(call configure,dev)
	$(CMAKE) --build --preset dev -j $(JOBS)

run: deps build
	$(MAIN_JOB)

test: deps build
	$(CTEST) --preset dev -L '$(TEST_LABELS)' -j $(JOBS) --no-label-summary

# ---- sanitizers ----
asan: deps
	$(call configure,asan)
	$(CMAKE) --build --preset asan -j $(JOBS)
	$(CTEST) --preset asan -L '$(TEST_LABELS)' -LE '^tools$$' -j $(JOBS) --no-label-summary

tsan: deps
	$(call configure,tsan)
	$(CMAKE) --build --preset tsan -j $(JOBS)
	$(CTEST) --preset tsan -L '$(TEST_LABELS)' -j $(JOBS) --no-label-summary

# ---- optimised builds (no tests by default) ----
release: deps
	$(call configure,release)
	$(CMAKE) --build --preset release -j $(JOBS)

bench: deps
	$(call configure,bench)
	$(CMAKE) --build --preset bench -j $(JOBS)

# ---- aarch64 under qemu-user ----
cross:
	scripts/deps.sh --ci
	$(call configure,aarch64)
	$(CMAKE) --build --preset aarch64 -j $(JOBS)
	$(CTEST) --preset aarch64 -L '$(CROSS_LABELS)' -LE '$(CROSS_EXCLUDE)' -j $(JOBS) \
	    --no-label-summary

# ---- coverage-guided fuzzing (fuzz/, docs/fuzzing.md) ----
fuzz:
	$(call configure,fuzz)
	$(CMAKE) --build --preset fuzz -j $(JOBS)

fuzz-ci: fuzz
	scripts/fuzz.sh $(FUZZ_CI_SECONDS) $(FUZZ_JOBS)

fuzz-long: fuzz
	scripts/fuzz.sh $(FUZZ_LONG_SECONDS) $(FUZZ_JOBS)

# ---- style and static analysis ----
format:
	@files=($(SOURCES)); [ $${#files[@]} -gt 0 ] || { echo "format: no sources" >&2; exit 1; }; \
	echo "$(CLANG_FORMAT) -i ($${#files[@]} files)"; \
	$(CLANG_FORMAT) -i "$${files[@]}"

format-check:
	@files=($(SOURCES)); [ $${#files[@]} -gt 0 ] || { echo "format-check: no sources" >&2; exit 1; }; \
	echo "$(CLANG_FORMAT) --dry-run --Werror ($${#files[@]} files)"; \
	$(CLANG_FORMAT) --dry-run --Werror "$${files[@]}"

lint:
	bash scripts/check-layers.sh
	$(call configure,dev)
	mkdir -p build/dev/cppcheck
	$(CPPCHECK) --project=build/dev/compile_commands.json \
	    --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
	    --suppress=missingIncludeSystem --cppcheck-build-dir=build/dev/cppcheck \
	    -j $(JOBS) --quiet

tidy:
	$(call configure,dev)
	printf '%s\n' $(filter %.c,$(SOURCES)) | \
	    xargs -r -P $(JOBS) -n 1 $(CLANG_TIDY) -p build/dev --quiet

clean:
	rm -rf build/dev build/asan build/tsan build/release build/bench build/aarch64 build/fuzz
