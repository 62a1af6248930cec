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
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# PostgreSQL binaries (the tests start their own throwaway cluster), pgTAP and
# PgBouncer (the pooling test).
system-deps:
	@if [ ! -x /usr/lib/postgresql/$(PG_MAJOR)/bin/initdb ] || \
	    [ ! -f /usr/share/postgresql/$(PG_MAJOR)/extension/pgtap.control ] || \
	    [ ! -x /usr/sbin/pgbouncer ]; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    postgresql-$(PG_MAJOR) postgresql-client-$(PG_MAJOR) postgresql-$(PG_MAJOR)-pgtap \
	    pgbouncer >/dev/null; \
	fi

demo: $(BIN)/pliersdb
	$(BIN)/pliersdb demo

test: system-deps $(BIN)/pliersdb
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The API test modules on a Citus coordinator and two workers, multi-shard statements
# of the application as errors (tests/conftest.py). Needs Citus for the system
# PostgreSQL 15 (../shared/citus/install.sh, not in Debian's archive).
test-citus: $(BIN)/pliersdb
	PLIERSDB_TEST_CLUSTER=citus $(BIN)/python -m pytest $(PYTEST_ARGS)
