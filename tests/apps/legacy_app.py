"""An app on Werkzeug 2.0's development server, whose requests carry the
legacy environ["werkzeug.server.shutdown"] hook. Run with the Flask 2.0
environment (.venv-legacy).

Usage: legacy_app.py make_server|app.run [PORT]
Environment: HOOK_LOG, the file the hooks and views append to.
"""

from __future__ import annotations

import os
import sys
import time

import werkzeug
from flask import Flask
from werkzeug.security import generate_password_hash

from flask_shutdown import Shutdown

app = Flask(__name__)
app.config["SHUTDOWN_TOKENS"] = ["test-token-0123456789abcdef"]
app.config["SHUTDOWN_USERS"] = {
    "ops": generate_password_hash("correct horse battery staple")
}
shutdown = Shutdown(app)


def log(line: str) -> None:
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(f"{line}\n")


@app.route("/slow")
def slow() -> str:
    log("slow-start")
    time.sleep(0.5)
    log("slow-end")
    return "slow done"


@app.route("/version")
def version() -> str:
    return werkzeug.__version__


@shutdown.teardown
def close_db() -> None:
    log("hook close_db")


@shutdown.teardown
def flush_cache() -> None:
    log("hook flush_cache")


if __name__ == "__main__":
    mode = sys.argv[1]

    if mode == "make_server":
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", 0, app, threaded=True)
        print(f"Serving on http://127.0.0.1:{server.port}", flush=True)
        server.serve_forever()
    else:
        port = int(sys.argv[2])
        print(f"Serving on http://127.0.0.1:{port}", flush=True)
        app.run("127.0.0.1", port, use_reloader=False)

    log("server returned")
