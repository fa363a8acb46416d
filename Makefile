# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint docs format schema migrate migration bench clean graphiql-assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/statusgraph serve

# One worker per core; a file's tests stay on one worker (the Redis rate-limit tests
# share one Redis database).
test: $(VENV)/.installed-dev
	$(BIN)/pytest -n auto --dist loadfile

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy statusgraph tests bench
	$(BIN)/lint-imports

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on a broken link.
docs: $(VENV)/.installed-dev
	$(BIN)/mkdocs build --strict

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(VENV)/.installed
	$(BIN)/statusgraph export-schema --output schema.graphql

migrate: $(VENV)/.installed
	$(BIN)/statusgraph migrate

# make migration m="add monitors"  (autogenerates against a scratch SQLite database)
migration: $(VENV)/.installed
	rm -f /tmp/statusgraph-migration.db
	STATUSGRAPH_DATABASE_URL=sqlite+aiosqlite:////tmp/statusgraph-migration.db $(BIN)/statusgraph migrate
	$(BIN)/python -c "import sys; from alembic import command; from statusgraph.db.migrate import alembic_config; \
	command.revision(alembic_config('sqlite+aiosqlite:////tmp/statusgraph-migration.db'), message=sys.argv[1], autogenerate=True)" "$(m)"

# GraphiQL's vendored files (statusgraph/http/static/graphiql/) from npm at the versions
# the script pins; run after changing one, and commit the result (needs npm, not at run time).
graphiql-assets:
	scripts/vendor-graphiql.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
