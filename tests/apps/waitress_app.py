"""Serve server_app with ``waitress.serve(app)`` on a free port."""

from __future__ import annotations

import logging

import waitress

from tests.apps.server_app import app
from tests.apps.server_app import log

if __name__ == "__main__":
    # waitress logs "Serving on URL" at INFO, which tells the test the port.
    logging.basicConfig(level=logging.INFO)
    waitress.serve(app, host="127.0.0.1", port=0, threads=4)
    log("serve returned")
