# tradeforge — two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
LOCK    = requirements.lock
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
DEMO_HOME ?= .demo-home
BENCH_HOME ?= .bench-home

.PHONY: demo test bench soak lint format clean venv lock chromium protos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs take the exact versions of the lock (pip constraints): a fresh machine gets the
# versions the tests passed with. Only Python and pip are needed.
$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/tradeforge demo --home $(DEMO_HOME)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 -q

# The report's browser tests drive Debian's Chromium (Playwright cannot fetch its own browser):
# installed here when missing, as root with apt (CI); otherwise those tests skip and say why.
chromium:
	@test -x /usr/bin/chromium || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		{ echo "installing chromium (apt) for the report's browser tests"; \
		  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		  >/dev/null; }

bench: $(STAMP)
	$(BIN)/python bench/reference.py --home $(BENCH_HOME)
	$(BIN)/python bench/peer_bench.py --home $(BENCH_HOME)
	$(BIN)/python bench/cache_bench.py
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/optimize_bench.py
	$(BIN)/python bench/ctrader_bench.py
	$(BIN)/python bench/notify_bench.py
	$(BIN)/python bench/monitor_bench.py
	$(BIN)/python bench/control_bench.py
	$(BIN)/python bench/ml_bench.py
	$(BIN)/python bench/scale_bench.py --home $(BENCH_HOME)
	$(BIN)/python bench/web_bench.py

# Crash-safety soak: SIGKILL a dry-run at 200 random points over 600 bars (the suite runs ~60).
soak: $(STAMP)
	$(BIN)/python -m tests.live.test_crash 200 600

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Regenerate the cTrader Open API messages from src/tradeforge/ctrader/proto/openapi.proto (the
# generated openapi_pb2.py is committed; grpcio-tools is needed only here). The generated code
# requires a protobuf runtime of at least the protoc version it was made with (see pyproject).
PROTO_DIR = src/tradeforge/ctrader/proto
protos: $(BIN)/python
	$(BIN)/python -m pip install --quiet "grpcio-tools==1.85.1"
	cd $(PROTO_DIR) && $(abspath $(BIN))/python -m grpc_tools.protoc -I. --python_out=. openapi.proto

# Re-resolve the lock from pyproject.toml for every supported Python and platform (needs the
# package index); then `make test` and commit requirements.lock with the change that needed it.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra research --extra ml --extra web --extra mt5 --universal \
		--python-version 3.10 --custom-compile-command "make lock" --quiet -o $(LOCK)

clean:
	rm -rf $(VENV) $(DEMO_HOME) $(BENCH_HOME) .pytest_cache .ruff_cache
