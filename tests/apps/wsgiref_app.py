"""Serve server_app with the standard library's wsgiref server, which no
adapter recognises: the fallback stops it.
"""

from __future__ import annotations

from wsgiref.simple_server import make_server

from tests.apps.server_app import app
from tests.apps.server_app import log

if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app)
    print(f"Serving on http://127.0.0.1:{server.server_port}", flush=True)

    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("interrupted")
