#!/usr/bin/env bash
# Install everything the tests need (nginx + njs, redis, the SDKs), then run
# the linter and every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# redis-server: policy tests run their own; docker-compose: validates docker-compose.yaml;
# prometheus: the metrics test runs its own and checks the alert rules with promtool;
# njs: the CLI that runs the capture ring's table tests (tests/njs/);
# chromium: the console's browser tests (Playwright drives Debian's build; it cannot download its own)
scripts/setup.sh test redis-server docker-compose prometheus njs chromium
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # the layer contracts in pyproject.toml
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
