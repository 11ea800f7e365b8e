# Clearhouse. `make run` brings the whole system up; `make test` runs the whole suite.
# With DATABASE_URL / REDIS_URL set both use PostgreSQL and Redis; without, SQLite and a
# filesystem broker that needs no server.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_WORKERS ?= 2

.PHONY: help venv var run migrate seed test test-fast lint format bench-ledger clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# uv when it works (fast); pip otherwise, e.g. where uv cannot see the system's CA certificates.
	@if command -v uv >/dev/null && uv pip install --python $(PY) --compile-bytecode -r requirements-dev.txt; then :; \
	  else echo "installing with pip"; $(PY) -m pip install --quiet -r requirements-dev.txt; fi
	touch $@

venv: $(BIN)/.installed ## Create .venv and install the pinned requirements

var:
	mkdir -p var/celery/queue var/celery/processed var/celery/results

migrate: venv var ## Apply migrations (and make the database cache table)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

seed: migrate ## Load the demo data and print the logins
	$(PY) manage.py seed_demo

run: seed ## Set up and run web, worker and beat together (Ctrl-C stops all)
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "Clearhouse: http://127.0.0.1:$${PORT:-8000}/  (API docs at /api/docs/, admin at /admin/)"
	$(BIN)/honcho start -f Procfile --port $${PORT:-8000}

test: venv var ## Run the whole suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

test-fast: venv ## The suite without browser and integration tests
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not browser and not integration"

lint: venv ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-ledger: venv ## Ledger benchmark on PostgreSQL (needs DATABASE_URL)
	$(PY) manage.py bench_ledger

clean: ## Remove the venv, the SQLite database and var/
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* var staticfiles
