# Bootstrap needs only python3 (>= 3.11) and make: uv is installed into .tools/, then uv
# builds .venv/ exactly as uv.lock pins it.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: demo test test-fast lint format bench ui clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: every CLI start and test subprocess imports dagster; without .pyc files
# (PYTHONDONTWRITEBYTECODE is set on some machines) that costs seconds each time.
SYNC := $(UV) sync --locked --compile-bytecode --python $(PYTHON) --quiet

# Three environments, each a superset of the one before, one stamp each: the runtime (`make
# demo`), + the `ui` group (`make ui`: dg), + every group (`make test`/`lint`: dev and bench).
# The smaller two sync --inexact, so they never remove what a bigger one installed (`make demo`
# after `make test` installs nothing); the full sync is exact and stamps all three.
.venv/.runtime: $(UV) uv.lock pyproject.toml
	$(SYNC) --inexact --no-default-groups
	@touch $@

.venv/.ui: .venv/.runtime
	$(SYNC) --inexact --no-default-groups --group ui
	@touch $@

.venv/.synced: $(UV) uv.lock pyproject.toml
	$(SYNC)
	@touch .venv/.runtime .venv/.ui $@

## The embedded default: simulator + pipeline + summary.
demo: .venv/.runtime
	.venv/bin/customer-sync demo

## The test suite (slow tests included; `make test-fast` skips them).
test: .venv/.synced
	.venv/bin/pytest -n auto --dist worksteal --durations=15

test-fast: .venv/.synced
	.venv/bin/pytest -n auto --dist worksteal -m "not slow"

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/dg check defs
	.venv/bin/basedpyright

format: .venv/.synced
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

## Sync speed and memory at 1M customers vs dlt (~95 min; report in data/bench/latest.md, summary in BENCHMARKS.md).
bench: .venv/.synced
	.venv/bin/python -m bench.run

clean:
	rm -rf .venv .tools

## The Dagster UI (`dg dev`, http://127.0.0.1:3000). Without VIVENU_BASE_URL: on the demo's simulated
## seller and its data (data/demo/, instance data/demo/dagster_home; the first start runs the demo).
ui: .venv/.ui
	.venv/bin/customer-sync ui
