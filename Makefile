# One command installs everything: uv (if missing) and the locked dependencies.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: install format lint typecheck test bench demo all

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

format: install
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: install
	$(UV) run mypy .

# The test command of the README and of .ci/run: lint, types, then the suite on real Postgres and Redis.
test: lint typecheck
	$(UV) run pytest

bench: install
	$(UV) run python bench/sandbox.py

demo: install
	$(UV) run ashby-sync demo

all: test
