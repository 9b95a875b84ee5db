# tongdai: `make run` starts the hotline, `make test` runs the whole suite.
PY       ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
DEB_RUN  := espeak-ng sox libsox-fmt-all ffmpeg graphviz
DEB_TEST := $(DEB_RUN) sip-tester baresip tcpdump chromium chromium-driver
TESTDATA ?= $(abspath ../shared/testdata)
export TONGDAI_TESTDATA ?= $(TESTDATA)

.PHONY: run test check bench deps deps-test debs-run debs-test db clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Debian packages: installed only where one is missing (apt-get update once first).
debs-run:
	@missing=$$(for p in $(DEB_RUN); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

debs-test:
	@missing=$$(for p in $(DEB_TEST); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

deps: debs-run $(VENV)/.installed
deps-test: debs-test $(VENV)/.installed-test

db: deps
	$(BIN)/tongdai db init --sample

run: db
	$(BIN)/tongdai web check
	$(BIN)/tongdai serve

test: deps-test
	$(BIN)/python -m pytest

check: deps-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: deps-test
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) var build *.egg-info
