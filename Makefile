# LSTM Explainer: developer entry points.
#   make run    serve the app on http://$(HOST):$(PORT)
#   make test   ruff + mypy + hadolint + pytest + node --test
#   make lint   ruff + mypy
#   make bench  run every bench/*.py script
#   make dist   build the sdist and wheel of lstm-explainer into dist/ (pyproject.toml)
#   make gallery  retrain the gallery's models (docs/gallery.md; never run by tests or CI)

PYTHON ?= python3
VENV   ?= .venv
HOST   ?= 127.0.0.1
PORT   ?= 8000
APP    ?= app.main:app
# Shutdown within 5 s with streams open; pings every 20 s, a client silent for 20 s more is
# dropped (a closed laptop); WebSocket messages capped at 8 MiB like JSON bodies
# (LSTMX_MAX_BODY_BYTES). `python -m app` uses the same values.
UVICORN_OPTS ?= --timeout-graceful-shutdown 5 --ws-ping-interval 20 --ws-ping-timeout 20 \
                --ws-per-message-deflate false \
                --ws-max-size 8388608
# glibc malloc: 2 arenas and a fixed mmap threshold, so the big arrays of finished runs go back
# to the OS. bench/load.py's 10-minute soak: RSS +29% with the defaults (per-thread arenas
# fragment), +2% with these.
MALLOC_ENV ?= MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
PY     := $(VENV)/bin/python

RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev

JS_TESTS := $(sort $(shell find tests/js -name '*.test.js' -o -name '*.test.mjs' 2>/dev/null))
BENCHES  := $(wildcard bench/*.py)
LINT_DIRS := $(wildcard app tests bench gallery hatch_build.py)

.PHONY: help venv run test lint ruff mypy hadolint pytest jstest bench dist gallery clean

help:
	@echo "targets: run test lint bench dist gallery clean  (vars: HOST=$(HOST) PORT=$(PORT))"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(MALLOC_ENV) $(PY) -m uvicorn $(APP) --host $(HOST) --port $(PORT) $(UVICORN_OPTS)

test: ruff mypy hadolint pytest jstest

mypy: $(DEV_STAMP)
	$(VENV)/bin/mypy app

ruff: $(DEV_STAMP)
	$(VENV)/bin/ruff check $(LINT_DIRS)

hadolint: $(DEV_STAMP)
	$(VENV)/bin/hadolint Dockerfile

# pytest-xdist, one worker per core, tests handed out one at a time; the ten slowest are listed
# at the end. Modules whose shared server is expensive say xdist_group: with pytest 9.2 the
# groups are not honoured yet (pytest-xdist issue 1386), so such a module's server starts on
# each worker that runs one of its tests (each on its own free port: correct, a few s more).
# Serial: make pytest PYTEST_ARGS=-n0.  Without the slow group: PYTEST_ARGS="-n auto -m 'not slow'".
PYTEST_ARGS ?= -n auto --dist loadgroup --durations=10
# pytest exit code 5 means "no tests collected": not a failure here. Tests marked `alone`
# (they bound times, or start a whole JupyterLab) run after the parallel part, one at a time.
pytest: $(DEV_STAMP)
	@echo "$(PY) -m pytest $(PYTEST_ARGS) -m 'not alone' tests && $(PY) -m pytest -m alone tests"
	@$(PY) -m pytest $(PYTEST_ARGS) -m "not alone" tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then rc=0; fi; \
	$(PY) -m pytest -m alone tests; rc2=$$?; \
	if [ $$rc2 -eq 5 ]; then rc2=0; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$rc2

jstest:
ifneq ($(strip $(JS_TESTS)),)
	node --test $(JS_TESTS)
else
	@echo "node --test: no tests/js/*.test.{js,mjs} files, skipped"
endif

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/mypy app

# bench/load.py's own default is the 10-minute soak; `make bench` keeps it to a minute.
LOAD_ARGS ?= --soak 60
bench: $(RUN_STAMP)
	@set -e; for f in $(BENCHES); do echo "== $$f"; \
	  if [ $$f = bench/load.py ]; then $(PY) $$f $(LOAD_ARGS); else $(PY) $$f; fi; done

# the pinned hatchling of requirements-dev.txt builds it (pyproject.toml's build-system pins it)
dist: $(DEV_STAMP)
	$(PY) -m build --no-isolation --outdir dist .

# Trains every model of app/gallery/models/ again with the engine's trainer and writes its
# card (a quarter of an hour on 2 busy cores); `python gallery/train.py SLUG` for one.
gallery: $(RUN_STAMP)
	$(PY) gallery/train.py

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache tests/artifacts build dist
