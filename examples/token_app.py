"""A Flask app that a static bearer token can shut down.

Try it::

    export SHUTDOWN_TOKEN="$(python -c 'import secrets; print(secrets.token_hex())')"
    python examples/token_app.py          # serves on http://127.0.0.1:5000

    # In another shell, with the same SHUTDOWN_TOKEN:
    SHUTDOWNCTL_TOKEN="$SHUTDOWN_TOKEN" flask shutdown send http://127.0.0.1:5000
    # or: sh examples/shutdown.sh http://127.0.0.1:5000
    # or: python examples/admin_script.py http://127.0.0.1:5000

The server drains the requests in flight, runs the teardown hook (it
prints ``closing the connection pool``), stops, and the process exits with
code 0. To see the drain, start a slow request first (``curl
http://127.0.0.1:5000/slow?s=5``) and shut down while it runs: it
completes. Ctrl-C or SIGTERM run the same sequence. Set ``PORT=0`` to pick a
free port; the address is printed as ``Serving on URL``.
"""

from __future__ import annotations

import os
import time

from flask import Flask
from flask import request

from flask_shutdown import serve
from flask_shutdown import Shutdown

app = Flask(__name__)
# Read the secret from the environment: never commit it.
app.config["SHUTDOWN_TOKENS"] = [os.environ["SHUTDOWN_TOKEN"]]
shutdown = Shutdown(app)


@app.get("/")
def index() -> str:
    return "Hello from the token app.\n"


@app.get("/slow")
def slow() -> str:
    # A request that is still running when the shutdown starts: it
    # completes before the server stops.
    print("slow request started", flush=True)
    time.sleep(float(request.args.get("s", "1")))
    return "slow request done\n"


@shutdown.teardown
def close_pool() -> None:
    print("closing the connection pool", flush=True)


if __name__ == "__main__":
    raise SystemExit(serve(app, port=int(os.environ.get("PORT", "5000"))))
