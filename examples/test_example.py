"""Testing an app against a real server with the ``shutdown_server``
fixture that Flask-Shutdown installs as a pytest plugin.

Try it (requests must be installed)::

    pytest examples/test_example.py

Define an ``app`` fixture; ``shutdown_server`` serves it in a thread on a
free port and yields the running :class:`~flask_shutdown.ServerThread`.
After the test, the server shuts down gracefully: requests still running
complete and the teardown hooks run.
"""

from __future__ import annotations

import pytest
import requests
from flask import Flask

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

TOKEN = "example-token-0123456789"


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]
    shutdown = Shutdown(app)
    app.config["CLOSED"] = []

    @app.get("/")
    def index() -> str:
        return "Hello"

    @shutdown.teardown
    def close() -> None:
        app.config["CLOSED"].append("pool")

    return app


def test_index(shutdown_server: ServerThread) -> None:
    rv = requests.get(shutdown_server.url + "/", timeout=5)
    assert rv.text == "Hello"


def test_shutdown_endpoint(app: Flask, shutdown_server: ServerThread) -> None:
    rv = requests.post(
        shutdown_server.url + "/shutdown",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert rv.status_code == 202
    shutdown_server.join(10)
    assert shutdown_server.stopped
    assert app.config["CLOSED"] == ["pool"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
