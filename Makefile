# Every target sets up .venv on first use; re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# DuckDB 1.x clients (Python packages and the PyPI `duckdb-cli`) in their own virtualenvs:
# tests/warehouse/test_duckdb1.py opens warehouse.duckdb with them, as people's tools do.
DUCKDB15 := .venv-duckdb1
DUCKDB14 := .venv-duckdb14

.PHONY: demo test bench lint docs format clean duckdb1

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DUCKDB15)/.installed:
	$(PYTHON) -m venv $(DUCKDB15)
	$(DUCKDB15)/bin/python -m pip install --quiet 'duckdb==1.5.*' 'duckdb-cli==1.5.*'
	touch $@

$(DUCKDB14)/.installed:
	$(PYTHON) -m venv $(DUCKDB14)
	$(DUCKDB14)/bin/python -m pip install --quiet 'duckdb==1.4.*' 'duckdb-cli==1.4.*'
	touch $@

duckdb1: $(DUCKDB15)/.installed $(DUCKDB14)/.installed

demo: $(STAMP)
	$(BIN)/gammalake demo

test: $(STAMP) duckdb1
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_lake.py
	$(BIN)/python bench/bench_backfill.py
	$(BIN)/python bench/bench_backtest.py
	$(BIN)/python bench/bench_orchestration.py
	$(BIN)/python bench/bench_cboe.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_dashboard.py
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_layout.py 5000 10
	$(BIN)/python bench/bench_snapshot_scale.py
	$(BIN)/python bench/bench_stop.py
	$(BIN)/python bench/bench_stop_fetch.py

# The last step builds the docs site (mkdocs.yml): a broken link or anchor, a missing page or one
# left out of the nav fails it. Not --quiet: that drops the warnings --strict counts.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The docs site (mkdocs.yml) at http://127.0.0.1:8000, rebuilt as pages change.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(DUCKDB15) $(DUCKDB14) .pytest_cache .ruff_cache build *.egg-info
