# uxlab: `make demo` runs the app with a demo study; `make test` sets up and runs the whole suite
# (`make test-fast`: all but the browser and real-process tests).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CHROMIUM ?= /usr/bin/chromium
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Settings for the test suite: real Postgres and Redis on this machine (Redis database 15).
TEST_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/uxlab \
	REDIS_URL=redis://127.0.0.1:6379/15 CELERY_BROKER_URL=redis://127.0.0.1:6379/15 \
	SECRET_KEY=test-only-secret DEBUG=false UXLAB_CHROMIUM=$(CHROMIUM) \
	UXLAB_LIVE_ALLOWED_HOSTS=127.0.0.0/8,::1

# manage.py (and the Celery and ASGI apps) read .env themselves when there is one, exported
# variables winning (uxlab/envfile.py); without it the demo runs on the embedded default. The demo
# runs with DEBUG=true unless the environment or .env says otherwise, looked up the same way.
DEMO_DEBUG = DEBUG="$$($(PY) -c 'from uxlab.envfile import main; main()' DEBUG true)"

.PHONY: install install-test demo test test-fast chromium proxy services bench clean

# What the app needs (`make demo`); the test extras come with `make test`.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(DEMO_DEBUG) $(PY) manage.py migrate --noinput
	$(DEMO_DEBUG) $(PY) manage.py demo_setup --base-url http://127.0.0.1:$(PORT)
	$(DEMO_DEBUG) $(PY) manage.py serve --port $(PORT)

# Debian's chromium, driven by Playwright through executable_path (no browser download).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Installing Debian's chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	fi

# Debian's nginx: the reverse proxy `manage.py serve` runs in front of several web processes, and
# the one bench_sessions measures through.
proxy:
	@if [ ! -x /usr/sbin/nginx ]; then \
		echo "Installing Debian's nginx-light"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	fi

services:
	bash .ci/services.sh

# What the benchmarks need (docs/benchmarks.md); then run them with the TEST_ENV settings, e.g.
#   make bench && DATABASE_URL=... REDIS_URL=... .venv/bin/python manage.py bench_sessions --json
bench: install-test proxy services

# No test takes near 600 s (the slowest, the benchmark smoke tests, about a minute): a hang (e.g. a
# task that never finishes cancelling when its event loop closes) fails that one test with its stack.
# Not in test-fast: the per-test alarm cost it 7 s of its 90. The tests without browsers or
# processes of their own run first, in two worker processes as in test-fast; then the rest, one at
# a time (they start servers and browsers and time what they show).
test: install-test chromium proxy services
	$(TEST_ENV) $(PY) -m pytest -m "not browser and not services" -n 2 --dist worksteal --timeout 600 --timeout-method signal
	$(TEST_ENV) $(PY) -m pytest -m "browser or services" --timeout 600 --timeout-method signal

# The pure and database tests: no browser, no spawned processes (under 90 s), in two worker
# processes, each with its own test database and Redis database (tests/settings.py).
test-fast: install-test services
	$(TEST_ENV) $(PY) -m pytest -m "not browser and not services" -n 2 --dist worksteal

clean:
	rm -rf $(VENV) var .pytest_cache
