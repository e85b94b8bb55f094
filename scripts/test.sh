#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, format, types, docs (warnings
# are errors), then pytest against real servers with branch coverage, on
# Python 3 (python3) and the newest Flask. Installs everything it needs
# first (scripts/bootstrap.sh test).
#
# With --matrix, or when CI=true (CI always runs it), it then runs the
# version matrix too: every supported Python with the newest Flask, and
# every tested Flask line on the oldest Python (noxfile.py; it needs
# Python 3.10, 3.12 and 3.13 installed, on PATH or with pyenv, and fails
# when one is missing). Without either, the local run stops after pytest.
#
# Other arguments go to pytest, e.g. scripts/test.sh -k legacy -x
set -euo pipefail
cd "$(dirname "$0")/.."

matrix=0
args=()

# CI sets CI=true: there the matrix is part of the run.
if [ "${CI:-}" = true ]; then
    matrix=1
fi

for arg in "$@"; do
    if [ "$arg" = --matrix ]; then
        matrix=1
    else
        args+=("$arg")
    fi
done

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
# pytest exits 5 when it collected nothing; like any other non-zero
# code it fails the run.
# A failure here still fails the run, but the matrix runs first, so that
# one CI run reports every failure.
status=0
coverage run -m pytest ${args[@]+"${args[@]}"} || status=$?
coverage combine -q
coverage report || status=$((status ? status : 1))

if [ "$matrix" = 1 ]; then
    echo "== version matrix (nox)" >&2
    # Each cell fails the run if it fails, and so does a missing Python;
    # nox goes on with the other cells first and lists them all at the end.
    nox || status=$((status ? status : 1))
fi

exit "$status"
