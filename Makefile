# reviewapp: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install lint format worker bench-intake clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make run: the embedded default (SQLite, Celery over a file transport) on 127.0.0.1:8000
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	bash scripts/run-embedded.sh

## make test: the whole suite on SQLite, then on PostgreSQL (and Redis) when they answer
test: install
	bash scripts/run-tests.sh

## make lint: ruff, then the import-linter contracts of pyproject.toml (no tests run)
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var db.sqlite3 test-artifacts staticfiles
