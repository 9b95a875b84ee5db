# tongdai: `make run` starts the hotline, `make test` runs the whole suite.
PY       ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
DEB_RUN  := espeak-ng sox libsox-fmt-all ffmpeg graphviz
DEB_TEST := $(DEB_RUN) sip-tester baresip tcpdump chromium chromium-driver kamailio prometheus
TESTDATA ?= $(abspath ../shared/testdata)
export TONGDAI_TESTDATA ?= $(TESTDATA)

.PHONY: run test check bench bench-calls soak cluster cluster-stop deps deps-test debs-run debs-test db clean

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

METRICS_PORT ?= 9160

run: db
	$(BIN)/tongdai web check
	$(BIN)/tongdai serve --metrics-port $(METRICS_PORT)

test: deps-test
	$(BIN)/python -m pytest

check: deps-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: deps-test
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# The shipped hotline at its goal: 400 calls up at once arriving at 50 calls/s, three runs back
# to back on one process (steady state); then a burst of 400 INVITEs in one second, on a fresh
# process and on one that first took the RFC 4475 and PROTOS corpora.
bench-calls: deps-test
	$(BIN)/python bench/calls.py --levels 400 --rate 50 --runs 3
	$(BIN)/python bench/calls.py --levels 400 --burst
	$(BIN)/python bench/calls.py --levels 400 --burst --runs 2 --corpora

# 30 minutes of 2 calls/s of 2-minute calls walking the default tree, through Kamailio to two
# nodes on PostgreSQL, scraped by Prometheus: RSS slope per node, call records, failures.
soak: deps-test
	$(BIN)/python bench/soak.py --minutes 30 --rate 2 --call-s 120 --nodes 2

# Kamailio on 5060 in front of NODES tongdai nodes on PostgreSQL, and the web app.
NODES ?= 2
cluster: deps
	@dpkg -s kamailio >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio >/dev/null)
	NODES=$(NODES) BIN=$(BIN) sh deploy/cluster.sh start

cluster-stop:
	sh deploy/cluster.sh stop

clean:
	rm -rf $(VENV) var build *.egg-info
