"""server_app with SIGTERM made graceful under waitress, for
``waitress-serve tests.apps.waitress_sigterm_app:app`` and, run as a
script, ``waitress.serve(app)`` on a free port.
"""

from __future__ import annotations

import logging

from flask_shutdown.adapters.waitress import graceful_sigterm
from tests.apps.server_app import app
from tests.apps.server_app import log

# Imported in the main thread by waitress-serve, before it serves.
graceful_sigterm()

__all__ = ["app"]

if __name__ == "__main__":
    import waitress

    # waitress logs "Serving on URL" at INFO, which tells the test the port.
    logging.basicConfig(level=logging.INFO)
    waitress.serve(app, host="127.0.0.1", port=0, threads=4)
    log("serve returned")
