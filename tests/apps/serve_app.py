"""An app served by flask_shutdown.serve(), for the signal tests.

Environment: HOOK_LOG (file the hooks append to), FAIL_HOOK=1 (a hook
raises), DRAIN_TIMEOUT (seconds).
"""

from __future__ import annotations

import os
import time

from flask import Flask
from flask import request

from flask_shutdown import serve
from flask_shutdown import Shutdown

app = Flask(__name__)
app.config["SHUTDOWN_TOKENS"] = ["test-token-0123456789abcdef"]
app.config["SHUTDOWN_DRAIN_TIMEOUT"] = float(os.environ.get("DRAIN_TIMEOUT", "30"))
shutdown = Shutdown(app)


def log(line: str) -> None:
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(f"{line}\n")


@app.get("/slow")
def slow() -> str:
    log("slow-start")
    time.sleep(float(request.args.get("s", "0.3")))
    log("slow-end")
    return "slow done"


@shutdown.teardown
def close_db() -> None:
    log(f"hook close_db {os.getpid()}")


@shutdown.teardown
def maybe_fail() -> None:
    if os.environ.get("FAIL_HOOK") == "1":
        raise RuntimeError("cache server is gone")

    log(f"hook maybe_fail {os.getpid()}")


if __name__ == "__main__":
    raise SystemExit(serve(app, "127.0.0.1", 0))
