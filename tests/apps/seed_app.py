"""The first method of the seeds, verbatim (the view and its helper),
on Werkzeug 3 with SHUTDOWN_LEGACY_HOOK: the old environ hook comes back
and runs the graceful sequence. HOOK_LOG names the file the hook writes
to.
"""

from __future__ import annotations

import os

from flask import Flask
from flask import request

from flask_shutdown import Shutdown

app = Flask(__name__)
app.config["SHUTDOWN_LEGACY_HOOK"] = True
extension = Shutdown(app)


@extension.teardown
def close_db() -> None:
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(f"hook close_db {os.getpid()}\n")


# -- verbatim from the seed ---------------------------------------------------


def shutdown_server():
    func = request.environ.get('werkzeug.server.shutdown')  # fmt: skip
    if func is None:
        raise RuntimeError('Not running with the Werkzeug Server')  # fmt: skip
    func()


@app.get('/shutdown')  # fmt: skip
def shutdown():
    shutdown_server()
    return 'Server shutting down...'  # fmt: skip
