"""Serve server_app with ``app.run()``. Usage: app_run.py [--reload]."""

from __future__ import annotations

import sys

from tests.apps.server_app import app
from tests.apps.server_app import log

if __name__ == "__main__":
    app.run("127.0.0.1", 0, use_reloader="--reload" in sys.argv)
    log("app.run returned")
