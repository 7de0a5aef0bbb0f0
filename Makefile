# devops-maturity: `make demo` runs the product on its embedded demo organisation,
# `make test` runs every check. Both set up .venv themselves on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= .demo

.PHONY: demo test lint typecheck pytest bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Our own package comes from this checkout only (-e .), never from an index.
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)  ## generate the demo organisation, collect it and show its status
	$(PY) -m maturity demo --dir $(DEMO) --serve

test: lint typecheck pytest  ## ruff, mypy and the whole test suite

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# On every core (pytest-xdist); a module's tests stay on one worker (--dist loadscope), so that
# a module-scoped store is built once, and modules are handed out in the order tests/conftest.py
# gives them, the longest first (--no-loadscope-reorder: not by their number of tests).
# PYTEST_ARGS="-n 0" runs them in one process. Bytecode caches are written (a shell's
# PYTHONDONTWRITEBYTECODE is dropped): else every process the tests start compiles the product's
# modules again, which an installed product never does.
pytest: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/pytest -n auto --dist loadscope --no-loadscope-reorder --durations=30 $(PYTEST_ARGS)

bench: $(STAMP)  ## run the benchmarks (minutes; results go to docs/benchmarks.md by hand)
	$(PY) bench/git_collect.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
