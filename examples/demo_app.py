"""The app the demo starts: a token-protected shutdown endpoint and two
teardown hooks that print what they do.

Try it by hand::

    python examples/demo_app.py
    curl -X POST -H "Authorization: Bearer demo-token-change-me-0123456789" \\
        http://127.0.0.1:5000/shutdown
"""

from __future__ import annotations

import logging
import os
import sys
import time

from flask import Flask

from flask_shutdown import serve
from flask_shutdown import Shutdown

app = Flask(__name__)
app.config["SHUTDOWN_TOKENS"] = [
    os.environ.get("DEMO_TOKEN", "demo-token-change-me-0123456789")
]
shutdown = Shutdown(app)


@app.get("/")
def index() -> str:
    return "Hello from the demo app.\n"


@app.get("/report")
def report() -> str:
    # A slow request, to show that the shutdown waits for it.
    time.sleep(1)
    return "report finished\n"


@shutdown.teardown
def close_database() -> None:
    print("[hook] closing the database connection pool", flush=True)


@shutdown.teardown
def flush_cache() -> None:
    print("[hook] flushing the cache to disk", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="[server] %(name)s: %(message)s", stream=sys.stdout
    )
    port = int(os.environ.get("PORT", "5000"))
    raise SystemExit(serve(app, "127.0.0.1", port))
