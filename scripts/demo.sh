#!/usr/bin/env bash
# The demo: start the example app, stop it with an authenticated
# POST /shutdown, and show the teardown hooks running.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh demo
exec .venv/bin/python examples/demo.py
