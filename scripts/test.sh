#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, format, types, docs (warnings
# are errors), then pytest against real servers with branch coverage.
# Installs everything it needs first (scripts/bootstrap.sh test).
# Extra arguments go to pytest, e.g. scripts/test.sh -k legacy -x
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh test
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff" >&2
ruff check .
ruff format --check .

echo "== mypy (strict)" >&2
mypy

echo "== docs" >&2
sphinx-build -W -E -q -b html docs docs/_build/html

echo "== pytest" >&2
rm -f .coverage .coverage.*
coverage run -m pytest "$@"
coverage combine -q
coverage report
