# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/ally: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/ally

.PHONY: install run test lint audit advisories lock probe
install: $(BIN)/ally

# The main job: the web app on http://localhost:8000 with a demo practice (data in ./ally-data).
run: install
	$(BIN)/ally serve

lint: install
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/mypy
	# Imports run one way, and neither the core nor the web app loads a query engine.
	$(BIN)/lint-imports
	# Security lint: no high-severity finding (medium ones are reviewed in docs/security.md).
	$(BIN)/bandit -q -r src --severity-level high

# The web tests run on SQLite, and once more on PostgreSQL where one answers on 127.0.0.1: there
# without the browser journeys (pages and scripts do not depend on the database; the test client
# covers the same views on PostgreSQL). Tests run on every core, a module to a worker
# (pytest-xdist); those marked `solo` need the database server to themselves and run after.
PG_ENV := ALLY_DB_ENGINE=postgresql ALLY_DB_NAME=test ALLY_DB_USER=postgres ALLY_DB_HOST=127.0.0.1
PARALLEL := -n auto --maxprocesses 4 --dist loadfile

test: lint
	ALLY_DATA_DIR=$$(mktemp -d) $(BIN)/pytest $(PARALLEL)
	@if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -q; then \
		echo "Web tests on PostgreSQL:"; \
		ALLY_DATA_DIR=$$(mktemp -d) $(PG_ENV) $(BIN)/pytest -q $(PARALLEL) -m "not browser and not solo" tests/web && \
		ALLY_DATA_DIR=$$(mktemp -d) $(PG_ENV) $(BIN)/pytest -q -m solo tests/web; \
	else \
		echo "PostgreSQL does not answer on 127.0.0.1: the web tests ran on SQLite only."; \
	fi

# Known vulnerabilities in every locked dependency (requirements.lock; pip-audit against the
# advisory data kept in advisories/, served on 127.0.0.1 for the run, so no network is needed;
# tools/audit_dependencies.py). A known vulnerability with a fixed release fails; one without a
# fix yet is a warning; the data's date and age are printed, its age never fails; a run that
# audited nothing fails. ALLY_AUDIT_ONLINE=1 asks PyPI's service instead: there a run that could
# audit nothing (no network, or a mirror without the data) says NOT AUDITED and passes, unless
# ALLY_AUDIT_REQUIRED=1.
audit: install
	$(BIN)/python tools/audit_dependencies.py

# advisories/ again (needs a network): the OSV records of OSV.dev's PyPI export that affect a
# package of requirements.lock (tools/refresh_advisories.py; `--from DIR` reads a checkout of
# pypa/advisory-database instead). Then `make audit`, and commit advisories/.
advisories: install
	$(BIN)/python tools/refresh_advisories.py

# requirements.lock again from the pins in pyproject.toml (pip resolves them; nothing installed).
lock: install
	$(BIN)/python tools/lock_dependencies.py

# Issue 19's outside-in probes against a real `ally serve` of this checkout (a few minutes; one
# line per check, exit 1 on a failure): docs/security.md, section 1.2.
probe: install
	$(BIN)/python tools/probe_outside_in.py
