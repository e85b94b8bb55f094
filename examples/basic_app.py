"""A Flask app that an HTTP Basic user can shut down, served on a
:class:`~flask_shutdown.ServerThread`.

Try it::

    # Store a password hash, never the password itself.
    export SHUTDOWN_PASSWORD_HASH="$(flask shutdown hash-password)"
    python examples/basic_app.py          # serves on http://127.0.0.1:5000

    # In another shell:
    export SHUTDOWNCTL_USER=admin
    flask shutdown send http://127.0.0.1:5000   # prompts for the password

``SHUTDOWNCTL_PASSWORD`` skips the prompt. The teardown hook prints
``flushing the cache``, then the process exits with code 0. Set ``PORT=0``
to pick a free port; the address is printed as ``Serving on URL``.
"""

from __future__ import annotations

import os
import sys

from flask import Flask

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

app = Flask(__name__)
app.config["SHUTDOWN_USERS"] = {"admin": os.environ["SHUTDOWN_PASSWORD_HASH"]}
shutdown = Shutdown(app)


@app.get("/")
def index() -> str:
    return "Hello from the Basic auth app.\n"


@shutdown.teardown
def flush_cache() -> None:
    print("flushing the cache", flush=True)


if __name__ == "__main__":
    # Leaving the block (after a POST /shutdown, or on Ctrl-C) stops the
    # server gracefully: drain, hooks, then the socket closes.
    with ServerThread(app, port=int(os.environ.get("PORT", "5000"))) as server:
        print(f"Serving on {server.url}", file=sys.stderr, flush=True)
        server.join()
