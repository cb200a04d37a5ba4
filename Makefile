# stackwatch: the two commands of the README, and the checks behind them.
#   make run    build, then profile the bundled example and show the result
#   make test   lint, then the whole test suite on CPython 3.9 to 3.13,
#               then 3.14 and 3.15 in a Debian root (tools/pyroot.sh)
#   make bench  overhead benchmarks against py-spy, austin, pyinstrument
#               (and the memory profiler against tracemalloc and memray)
#   make lint   the C style check (clang-format) and the C warnings build

PYTHONS ?= 3.9 3.10 3.11 3.12 3.13
# From a Debian forky root (tools/pyroot.sh; pyenv here stops at 3.13),
# each in .venv/root/X.Y: the whole suite once src/stackwatch/_versions.py
# includes the version (no edit here), until then only the refusal check.
# Where no root can be made, one loud line says they were not tested,
# unless PYROOT_REQUIRED is set (CI): then that fails.
PYTHONS_ROOT ?= 3.14 3.15
RUN_PYTHON ?= 3.11
VENV_DIR ?= $(CURDIR)/.venv
PYTEST_ARGS ?= -q
# tools/testall.sh reads them from the environment (PYTEST_ARGS split as
# a shell would: make test PYTEST_ARGS="-k 'a or b'").
export VENV_DIR PYTEST_ARGS

C_SOURCES := $(shell find csrc tests/c -name '*.[ch]')

.PHONY: bench-cpython bench-trace bench-trace-floor run test test-root lint lint-versions deps bench asan clean

deps:
	@tools/system-deps.sh

run:
	@tools/venv.sh $(RUN_PYTHON) test
	@mkdir -p out
	$(VENV_DIR)/$(RUN_PYTHON)/bin/stackwatch record -r 200 --threads \
		-o out/demo.svg examples/demo.py
	@echo "open out/demo.svg in a browser to explore the flame graph"

# Only csrc/compat/ may know CPython versions: any other C file that
# mentions PY_VERSION_HEX or PY_MINOR_VERSION fails the lint, one line each.
lint-versions:
	@bad=$$(grep -rlE 'PY_VERSION_HEX|PY_MINOR_VERSION' --include='*.[ch]' \
		csrc | grep -v '^csrc/compat/' || true); \
	for f in $$bad; do \
		echo "lint: $$f mentions PY_VERSION_HEX/PY_MINOR_VERSION outside csrc/compat/" >&2; \
	done; \
	test -z "$$bad"

lint: deps lint-versions
	@command -v clang-format >/dev/null || { \
		echo "lint: clang-format is missing" >&2; exit 1; }
	clang-format --style=file --dry-run --Werror $(C_SOURCES)

test: lint
	@PYTHONS="$(PYTHONS)" PYTHONS_ROOT="$(PYTHONS_ROOT)" tools/testall.sh

# Only the Pythons of the Debian root.
test-root:
	@PYTHONS= PYTHONS_ROOT="$(PYTHONS_ROOT)" tools/testall.sh

# The suite against an extension built with AddressSanitizer and UBSan
# (every process the tests start inherits the preloaded runtime;
# libstdc++ is preloaded too, for greenlet's C++ exceptions).
ASAN_PYTHON ?= 3.12
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
asan:
	@VENV_DIR=$(VENV_DIR)/asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" \
		tools/venv.sh $(ASAN_PYTHON) test
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so)" \
		ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \
		$(VENV_DIR)/asan/$(ASAN_PYTHON)/bin/python -m pytest $(PYTEST_ARGS) tests

# Its own virtual environment: a `make test` running meanwhile must not
# swap the build being measured.  BENCH_ARGS: e.g. --quick, --rounds 21;
# PAIRED_ARGS: e.g. --quick, --cpu 1; SLOWLOG_ARGS: e.g. --rounds 11;
# STARTUP_ARGS: e.g. --quick, --runs 51; MEMREAD_ARGS: e.g. --rounds 5;
# HTTP_ARGS: e.g. --rounds 11; RECORD_PID_ARGS: e.g. --quick, --rounds 9;
# OUTSIDE_ARGS: e.g. --rounds 9 --threads 1,10 --py-spy PATH
# (bench/outside_dump.py); SAMPLER_RATE_ARGS: e.g. --rounds 9 (the rate
# kept, bench/sampler_rate.py; give it a second interpreter to compare).
bench:
	@VENV_DIR=$(VENV_DIR)/bench tools/venv.sh $(RUN_PYTHON) bench
	@VENV_DIR=$(VENV_DIR)/bench tools/venv.sh $(TRACE_PYTHON) bench
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/run.py $(BENCH_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/paired.py $(PAIRED_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/slowlog.py $(SLOWLOG_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/startup.py $(STARTUP_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/sampler_rate.py \
		$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python $(SAMPLER_RATE_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/record_pid.py $(RECORD_PID_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/outside_dump.py $(OUTSIDE_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/memprof.py $(MEMPROF_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/memread.py $(MEMREAD_ARGS)
	$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/http.py $(HTTP_ARGS)
	@if command -v wrk >/dev/null; then \
		$(VENV_DIR)/bench/$(RUN_PYTHON)/bin/python bench/http.py --server $(HTTP_ARGS); \
	else echo "!!!!! bench/http.py --server NOT RUN: wrk is not installed (apt-get install wrk)" >&2; fi
	$(VENV_DIR)/bench/$(TRACE_PYTHON)/bin/python bench/trace.py $(TRACE_ARGS)
	@$(MAKE) --no-print-directory bench-cpython

# CPython 3.15's own sampler (python -m profiling.sampling) beside
# stackwatch on the same workloads, in the Debian root (issue 13), then
# bench/paired.py's fine overhead measure on 3.14 and 3.15 (on 3.15 with
# profiling.sampling switched on and off the same way: bench/paired_ps.py).
# CPYTHON_BENCH_ARGS: e.g. --quick, --rounds 21.
bench-cpython:
	@if ! why=$$(tools/pyroot.sh ensure 2>&1); then \
		echo "!!!!! profiling.sampling NOT COMPARED: $$(printf '%s\n' "$$why" | tail -n 1)" >&2; \
		exit 0; \
	fi; \
	STACKWATCH_BENCH_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null); \
	export STACKWATCH_BENCH_COMMIT; \
	for v in 3.15 3.14; do \
		tools/pyroot.sh run $$v env VENV_DIR=$(VENV_DIR)/root-bench \
			tools/venv.sh $$v test || exit 1; \
	done; \
	tools/pyroot.sh run 3.15 $(VENV_DIR)/root-bench/3.15/bin/python bench/run.py \
		--only overhead --tools stackwatch,profiling.sampling \
		--out out/3.15 $(CPYTHON_BENCH_ARGS) || exit 1; \
	for v in 3.14 3.15; do \
		tools/pyroot.sh run $$v $(VENV_DIR)/root-bench/$$v/bin/python \
			bench/paired.py --tools stackwatch,profiling.sampling \
			$(PAIRED_ARGS) || exit 1; \
	done

# The tracer's benchmark runs on a Python with sys.monitoring (its engine
# there); TRACE_ARGS: e.g. --rounds 11.
TRACE_PYTHON ?= 3.12
bench-trace:
	@VENV_DIR=$(VENV_DIR)/bench tools/venv.sh $(TRACE_PYTHON) bench
	$(VENV_DIR)/bench/$(TRACE_PYTHON)/bin/python bench/trace.py $(TRACE_ARGS)

# The tracer's cost per event in instructions (callgrind; needs valgrind
# and a C compiler): untraced, no-op C sys.monitoring callbacks (the
# floor), stackwatch, excluded, cProfile.  TRACE_FLOOR_ARGS: e.g.
# --wall 5.
bench-trace-floor:
	@VENV_DIR=$(VENV_DIR)/bench tools/venv.sh $(TRACE_PYTHON) bench
	$(VENV_DIR)/bench/$(TRACE_PYTHON)/bin/python bench/trace_floor.py $(TRACE_FLOOR_ARGS)

clean:
	rm -rf build dist out src/*.egg-info .pytest_cache
