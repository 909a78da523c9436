# One by One: the two commands of the README, and the steps they are made of.
#   make book   builds the web book into _build/html
#   make assignments  builds the course assignments into _build/assignments (see book/instructors.md)
#   make test   runs every check (lint, twins in sync, book build, unit tests, notebooks with nbval,
#               the built book in a headless browser)
# Both create the virtual environment .venv first, from the pinned requirements.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# Notebook kernels and tools must come from the virtual environment.
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0

.PHONY: book test lint notebooks check-notebooks colab pytest browser clean lock assignments \
	mutation book-without-solutions

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

# Jupyter Book's execution cache re-runs a page only when its code cells change, not when the
# package or the recorded data it reads do. tools/book_cache.py keys the cache on those too: it
# clears _build/.jupyter_cache whenever the digest of src/onebyone/, book/data/ and
# requirements.txt differs from the one recorded for the cache, so a local build never shows
# numbers computed by an older package.
book: $(STAMP)
	$(BIN)/python tools/book_cache.py
	$(BIN)/jupyter-book build . -W -n --keep-going

# Safe with `make -j`: the quick checks (lint, the twins in sync, the browser) run first, in
# parallel. Then two runs go side by side, for the build runs the chapters one after another and
# keeps about one of two cores busy: the book build followed by the tests marked built_book,
# which check the built HTML, and the other tests. The first run's output is shown when both
# have ended. These are steps of this recipe, not prerequisites, so no -j can start a test of
# the built book before the build ends.
# Each run is a background job in a process group of its own (setsid), so that an interrupt
# (Ctrl-C, or a TERM to make) stops both, with their kernels and workers: `wait` returns on a
# signal, and the trap kills the groups.
test: $(STAMP) browser lint check-notebooks
	@log=$$(mktemp); book=; tests=; \
	stop() { for group in $$book $$tests; do kill -TERM -$$group 2>/dev/null; done; \
	         rm -f $$log; exit $$1; }; \
	trap 'stop 130' INT; trap 'stop 143' TERM; \
	setsid sh -c '$(MAKE) --no-print-directory book && \
	  $(MAKE) --no-print-directory pytest PYTEST_MARKS=built_book PYTEST_WORKERS=1' \
	  > $$log 2>&1 & book=$$!; \
	setsid $(MAKE) --no-print-directory pytest PYTEST_MARKS='not built_book' & tests=$$!; \
	wait $$tests; tested=$$?; wait $$book; built=$$?; \
	trap - INT TERM; book=; tests=; \
	echo "make test: the book build, then the tests of the built book:"; \
	cat $$log; rm -f $$log; \
	if [ $$built != 0 ]; then echo "make test: the book build or its tests failed" >&2; fi; \
	[ $$built = 0 ] && [ $$tested = 0 ]

# The browser tests (tests/test_browser.py) drive Debian's `chromium` with Playwright, which never
# downloads a browser of its own. Install the package when it is missing (CI runs as root); when
# that cannot be done, say so here, and the browser test fails naming the package.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing the Debian package chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  fi; \
	  [ -x $(CHROMIUM) ] || echo "WARNING: $(CHROMIUM) is missing and could not be installed:" \
	    "install the Debian package chromium (apt-get install -y chromium)"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests tools _ext benchmarks notebooks

# The twins in notebooks/ must be what `make notebooks` would write (compared by content).
check-notebooks: $(STAMP)
	$(BIN)/python tools/notebooks.py --check

# Unit tests, checks on the book (sources and built HTML), and every notebook twin under nbval.
# Two worker processes (pytest-xdist), each taking whole files (--dist loadfile), so that a
# twin's cells run in order in one kernel and a module's fixtures are built once; the slowest
# tests are reported, to keep `make test` within its ten minutes on two cores.
# PYTEST_MARKS, when set, selects tests by marker (`make test` runs two selections).
PYTEST_WORKERS ?= 2
PYTEST_MARKS ?=
pytest: $(STAMP)
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider \
		-n $(PYTEST_WORKERS) --dist loadfile --durations=15 \
		$(if $(PYTEST_MARKS),-m "$(PYTEST_MARKS)")

# Execute every chapter and write its twin: plain Jupyter Markdown, glued values filled in, first
# cell pinned to HEAD. Commit package changes first (see the README's Contributing section).
notebooks: $(STAMP)
	$(BIN)/python tools/notebooks.py

# Course assignments from the chapters' exercises, with Otter-Grader: student and solution
# notebooks and autograder zips, in _build/assignments (ignored by git). Reads the twins' pins.
assignments: $(STAMP)
	$(BIN)/python tools/assignments.py build

# The web book and the twins without their worked solutions, for a course that grades the
# exercises (book/instructors.md): _build/without-solutions/_build/html and .../notebooks.
book-without-solutions: $(STAMP)
	$(BIN)/python tools/without_solutions.py book
	$(BIN)/python tools/without_solutions.py twins

# Only the simulated Colab run (part of `make test` too): a fresh Colab-like environment runs a twin.
colab: $(STAMP)
	$(BIN)/python -m pytest tests/test_colab.py -p no:cacheprovider

# Re-pin requirements.txt from the current environment (see the comment at its top).
# requirements.txt is the one place that pins torch: its torch line is kept as it is written.
lock: $(STAMP)
	{ sed -n '1,3p' requirements.txt; grep '^torch==' requirements.txt; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch=='; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.txt

# Mutation testing with mutmut (configured in pyproject.toml's [tool.mutmut]); slow, so not part
# of `make test`. The result and the equivalent mutants are in mutation/. Process isolation:
# mutmut's default forks each mutant's worker from a process that has run the whole test suite,
# and a fork of a process whose torch thread pools have run deadlocks. `process_isolation =
# "forkserver"` makes every worker a fork of a fork server that has only imported the tests, and
# one thread per process (OMP/MKL below) leaves no thread pool to inherit, so one worker per core
# (MUTATION_WORKERS, the number of cores unless set) runs safely. MUTANTS selects mutants by
# name, e.g.
#   make mutation MUTANTS='onebyone.perf.timing.*'
MUTANTS ?=
MUTATION_WORKERS ?= $(shell nproc)
mutation: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children $(MUTATION_WORKERS) $(MUTANTS)
	$(BIN)/python tools/mutation_report.py --record --command "\`make mutation MUTANTS='$(MUTANTS)'\` ($(MUTATION_WORKERS) workers)"

clean:
	rm -rf _build  # the book, its execution cache and the browser tests' screenshots
	rm -rf mutants  # mutmut's mutated copy and its results
