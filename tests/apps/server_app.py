"""One app for the real-server tests (flask run, gunicorn, waitress,
uWSGI, the nginx fleet).

Environment: HOOK_LOG, the file the views and hooks append lines to, each
ending with the process id; SHUTDOWN_DRAIN_DELAY, SHUTDOWN_STRATEGY,
SHUTDOWN_SHARED_STATE and SHUTDOWN_STORAGE_URI are passed on to the
config when set, and SHUTDOWN_TEST_CONFIG, a JSON object, updates it.
"""

from __future__ import annotations

import json
import os
import time

from flask import Flask
from flask import request
from werkzeug.security import generate_password_hash

from flask_shutdown import Shutdown

app = Flask(__name__)
app.config["SHUTDOWN_TOKENS"] = ["test-token-0123456789abcdef"]
app.config["SHUTDOWN_USERS"] = {
    "ops": generate_password_hash("correct horse battery staple")
}

for key in ("SHUTDOWN_DRAIN_DELAY", "SHUTDOWN_DRAIN_TIMEOUT"):
    if key in os.environ:
        app.config[key] = float(os.environ[key])

if "SECRET_KEY" in os.environ:
    app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    app.config["SHUTDOWN_SIGNED_TOKENS"] = True

for key in ("SHUTDOWN_SHARED_STATE", "SHUTDOWN_STORAGE_URI"):
    if key in os.environ:
        app.config[key] = os.environ[key]

if "SHUTDOWN_TEST_CONFIG" in os.environ:
    app.config.update(json.loads(os.environ["SHUTDOWN_TEST_CONFIG"]))

if "SHUTDOWN_STRATEGY" in os.environ:
    app.config["SHUTDOWN_STRATEGY"] = os.environ["SHUTDOWN_STRATEGY"]

shutdown = Shutdown(app)


def log(line: str) -> None:
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(f"{line} {os.getpid()}\n")


@app.get("/pid")
def pid() -> str:
    time.sleep(float(request.args.get("s", "0")))
    return str(os.getpid())


@app.get("/whoami")
def whoami() -> dict[str, object]:
    # Which worker answered, and whether it considers the app ready: the
    # shared-state tests check every worker of one server agrees.
    time.sleep(float(request.args.get("s", "0")))
    return {"pid": os.getpid(), "ready": shutdown.status()["ready"]}


@app.get("/slow")
def slow() -> str:
    log("slow-start")
    time.sleep(float(request.args.get("s", "0.5")))
    log("slow-end")
    # Large enough that the server cannot hand it to the socket in one go.
    size = int(request.args.get("size", "0"))
    return "slow done" + "." * size


@shutdown.teardown
def close_db() -> None:
    log("hook close_db")


@shutdown.teardown
def flush_cache() -> None:
    log("hook flush_cache")
