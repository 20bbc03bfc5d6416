# prunegraph: the two set-up commands are `make demo` (main job) and `make test` (all tests).
# Each installs what it needs: a virtualenv in .venv, Python packages, the local Neo4j stack
# (Neo4j + GDS + Browser from Maven Central into $PRUNEGRAPH_HOME, default ~/.cache/prunegraph).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PRUNEGRAPH := $(VENV)/bin/prunegraph
STAMP := $(VENV)/.installed
VENV_NEED_KB := 8388608
# root installs system packages directly; anyone else through sudo when it is there.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_ENV := DEBIAN_FRONTEND=noninteractive

.PHONY: venv stack stack-deps test-deps start stop status demo test test-unit test-integration \
        lint format clean-venv clean-stack

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "prunegraph: $(PYTHON) not found; install Python >= 3.11 or set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# PyPI's torch for Linux pulls the CUDA libraries (~7 GB installed); say so before pip fails midway.
	@avail=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
	if [ -n "$$avail" ] && [ "$$avail" -lt $(VENV_NEED_KB) ]; then \
	  echo "prunegraph: warning: $$((avail / 1048576)) GB free here; the virtualenv needs about 8 GB" \
	       "(PyPI's torch brings the CUDA libraries). Free disk space if the install below fails."; \
	fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# --- local database stack ----------------------------------------------------------------
# Maven and a Java 17 are the only system tools the stack needs; install them if missing.
stack-deps:
	@missing=""; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	ls /usr/lib/jvm/java-17-openjdk-*/bin/java >/dev/null 2>&1 || [ -n "$$PRUNEGRAPH_JAVA_HOME" ] \
	  || missing="$$missing openjdk-17-jdk-headless"; \
	if [ -n "$$missing" ]; then \
	  echo "prunegraph: installing$$missing (apt-get)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) $(APT_ENV) apt-get install -y -qq $$missing; \
	fi

# Idempotent: rebuilds only when stack/pom-*.xml change (fingerprint in .build-stamp).
stack: venv stack-deps
	$(PRUNEGRAPH) db build

start: stack
	$(PRUNEGRAPH) db start

stop: venv
	$(PRUNEGRAPH) db stop

status: venv
	$(PRUNEGRAPH) db status

clean-stack: stop
	@echo "Removing the installation (not the credentials, not ~/.m2)."
	$(PRUNEGRAPH) db clean

# --- the two commands ----------------------------------------------------------------------
demo: start
	$(PRUNEGRAPH) study run examples/demo.toml

# Chromium drives the Browser test, docker-compose validates docker/compose.yml.
test-deps:
	@missing=""; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  echo "prunegraph: installing$$missing (apt-get)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) $(APT_ENV) apt-get install -y -qq $$missing; \
	fi

# Integration tests start the stack themselves when nothing answers (and stop it afterwards).
test: venv stack test-deps
	$(PY) -m pytest tests/unit tests/integration -q

test-unit: venv
	$(PY) -m pytest tests/unit -q

test-integration: venv stack test-deps
	$(PY) -m pytest tests/integration -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/mypy_tree.py

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
