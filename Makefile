# tradeforge — two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_HOME ?= .demo-home
BENCH_HOME ?= .bench-home

.PHONY: demo test bench soak lint format clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/tradeforge demo --home $(DEMO_HOME)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/reference.py --home $(BENCH_HOME)
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/optimize_bench.py

# Crash-safety soak: SIGKILL a dry-run at 200 random points over 600 bars (the suite runs ~60).
soak: $(STAMP)
	$(BIN)/python -m tests.live.test_crash 200 600

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) $(DEMO_HOME) $(BENCH_HOME) .pytest_cache .ruff_cache
