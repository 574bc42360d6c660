# Two commands for a fresh machine with Python 3.11 and make: `make run`, `make test`.
# .venv is created on first use; reinstalling happens only when setup.cfg or pyproject.toml
# change (stamp files in .venv).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= config.json
PYTEST_ARGS ?=

.PHONY: run test lint venv

run: $(VENV)/.installed
	$(PY) -m rmail --config $(CONFIG) serve --demo

test: $(VENV)/.installed-test
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy rmail

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -e .
	touch $@

# The test extra includes everything `run` needs, so it satisfies both stamps.
$(VENV)/.installed-test: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $(VENV)/.installed $@
