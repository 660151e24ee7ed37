# Every command the project uses is written down here.
#   make run      set up everything, then serve on http://127.0.0.1:$(PORT)
#   make test     set up everything, then run the whole test suite
# Other targets: superuser, lint, format, fixtures, clean.

SHELL := /bin/bash
.DEFAULT_GOAL := run

PORT ?= 8000
VENV ?= .venv
# SpatiaLite needs an interpreter whose sqlite3 can load extensions and links
# the SQLite SpatiaLite was built for: the distribution's own python3 does.
ifeq ($(shell uname -s),Darwin)
PYTHON ?= $(shell brew --prefix 2>/dev/null)/bin/python3
else
PYTHON ?= /usr/bin/python3
endif
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
MANAGE := $(PY) manage.py
PYTEST_ARGS ?=

.PHONY: run serve test test-postgis check-migrations check-data setup setup-dev system-deps db superuser lint format \
	fixtures clean messages makemessages loadtest bench bench-smoke deploy-check security-lint api-fuzz

run: setup db
	PORT=$(PORT) $(MANAGE) runserver 127.0.0.1:$(PORT)

# As in production: nginx on BIND (default 127.0.0.1:$(PORT)) reads whole
# requests, so slow clients never hold a worker, and hands them to gunicorn
# (WEB_CONCURRENCY workers, default 2 per core) on a private unix socket;
# DEBUG off, static files collected and served by WhiteNoise. Ctrl-C stops
# both. See scripts/serve.py and deploy/nginx.conf.template.
# A real deployment sets its own SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL.
# PORT: links in answers name http://127.0.0.1:$(PORT) unless SITE_URL is set.
SERVE_ENV := DEBUG=False ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} PORT=$(PORT)
serve: setup db
	@bash scripts/system-deps.sh nginx
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input --verbosity 0
	$(SERVE_ENV) BIND=$${BIND:-127.0.0.1:$(PORT)} $(PY) scripts/serve.py

# Speed at scale against bare-Django baselines (about 8 minutes); results in
# bench-results/. bench-smoke: one short round on small data (CI). Both talk
# to gunicorn directly: the front would add the same hop to the site and its
# baselines, and the slow-client case is the load test's.
bench: setup db
	@bash scripts/system-deps.sh wrk
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input --verbosity 0
	$(PY) scripts/bench.py
bench-smoke: setup db
	@bash scripts/system-deps.sh wrk
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input --verbosity 0
	$(PY) scripts/bench.py --smoke

# Django's deployment checklist with the production settings of deploy.env.
deploy-check: setup
	set -a && . ./deploy.env && set +a && $(MANAGE) check --deploy --fail-level WARNING

# Static analysis for security problems (medium and high findings fail).
security-lint: setup-dev
	$(VENV)/bin/bandit -q -r clusters yangtze --severity-level medium

# Load and fault tests of `make serve` (nginx in front of gunicorn) on
# 127.0.0.1, against a copy of db.sqlite3: wrk over a mix of pages and API
# (LOADTEST_SECONDS=60, LOADTEST_CONNECTIONS=50; the bar is 0 errors), then a
# worker killed under load, the database locked for a few seconds, and slow
# clients (half headers, short bodies). See scripts/loadtest.py.
loadtest: setup db
	@bash scripts/system-deps.sh nginx wrk
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input --verbosity 0
	$(PY) scripts/loadtest.py

# Schemathesis over every API operation with an editor's token, against
# `make serve` on 127.0.0.1 and a copy of db.sqlite3 (about 3 minutes:
# API_FUZZ_SECONDS=150, API_FUZZ_EXAMPLES=30). See scripts/api_fuzz.py.
api-fuzz: setup-dev db
	@bash scripts/system-deps.sh nginx
	$(SERVE_ENV) $(MANAGE) collectstatic --no-input --verbosity 0
	$(PY) scripts/api_fuzz.py

test: setup-dev db
	$(PY) -m pytest $(PYTEST_ARGS)

# The same suite against a throwaway PostgreSQL + PostGIS cluster on loopback.
test-postgis: setup-dev
	bash scripts/with-postgis.sh $(MAKE) --no-print-directory test

check-migrations: setup
	$(MANAGE) makemigrations --check --dry-run

# What editors should fix; non-zero when anything is listed.
check-data: db
	$(MANAGE) check_data

setup: system-deps $(VENV)/.requirements .env messages
setup-dev: setup $(VENV)/.requirements-dev

# Compiled translations (.mo) are built here, not committed.
PO_FILES := $(wildcard locale/*/LC_MESSAGES/*.po)
messages: $(PO_FILES:.po=.mo)
%.mo: %.po
	msgfmt --check --output-file $@ $<

system-deps:
	@bash scripts/system-deps.sh

$(VENV)/bin/python:
	@$(PYTHON) scripts/check-python.py
	$(PYTHON) -m venv $(VENV)

$(VENV)/.requirements: requirements.txt | $(VENV)/bin/python
	@$(PY) scripts/check-python.py
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.requirements-dev: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(PIP) install -r requirements-dev.txt
	@touch $@

# A random SECRET_KEY for this checkout only; .env is never committed.
.env:
	@umask 077; { echo "DEBUG=True"; \
	  echo "SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')"; } > $@
	@echo "Wrote .env with a new random SECRET_KEY (DEBUG=True for local use)."

# Migrate, then load the reference data if (and only if) the database is empty.
db: setup
	$(MANAGE) migrate --no-input --verbosity 0
	$(MANAGE) setup_groups
	$(MANAGE) load_reference_data

# The first editor account: prompts for a password; none exists by default.
superuser: setup db
	$(MANAGE) createsuperuser

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Regenerate the fixtures from the current database (after editing the
# reference data in the admin). Slugs, not ids, tie the records together.
fixtures: setup
	@for pair in 01_provinces:clusters.province 02_cities:clusters.city 03_sectors:clusters.sector \
	  04_documents:clusters.policydocument 05_bases:clusters.plannedbase \
	  06_memberships:clusters.basemembership 07_sources:clusters.basesource; do \
	  file=$${pair%%:*}; model=$${pair#*:}; \
	  $(MANAGE) dumpdata $$model --natural-foreign --natural-primary --indent 2 \
	    --output fixtures/$$file.json || exit 1; \
	done

# Collect new strings from code and templates into the Chinese catalogue.
makemessages: setup
	$(MANAGE) makemessages --locale zh_Hans --ignore ".venv/*" --ignore "staticfiles/*" --no-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
