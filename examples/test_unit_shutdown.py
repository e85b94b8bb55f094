"""Unit-testing teardown hooks with Flask's test client: a valid
``POST /shutdown`` runs the real sequence (drain, hooks, record) in the
test's own process, stops nothing and signals nothing, and its ``202``
says what happened.

Try it::

    pytest examples/test_unit_shutdown.py
"""

from __future__ import annotations

import pytest
from flask import Flask

from flask_shutdown import Shutdown

TOKEN = "example-token-0123456789"
CLOSED: list[str] = []


def create_app() -> tuple[Flask, Shutdown]:
    app = Flask(__name__)
    app.config.update(TESTING=True, SHUTDOWN_TOKENS=[TOKEN])
    shutdown = Shutdown(app)

    @shutdown.teardown
    def close_db() -> None:
        CLOSED.append("db")

    return app, shutdown


@pytest.fixture
def app() -> Flask:
    CLOSED.clear()
    return create_app()[0]


def test_shutdown_runs_the_hooks(app: Flask) -> None:
    client = app.test_client()
    rv = client.post("/shutdown", headers={"Authorization": f"Bearer {TOKEN}"})

    assert rv.status_code == 202
    assert rv.json["phase"] == "stopped"
    assert rv.json["exit_code"] == 0
    assert [hook["status"] for hook in rv.json["hooks"]] == ["ok"]
    assert CLOSED == ["db"]
    # The app now answers 503, as a stopped server would.
    assert client.get("/").status_code == 503


def test_reset_serves_again() -> None:
    app, shutdown = create_app()
    app.get("/")(lambda: "ok")
    client = app.test_client()
    client.post("/shutdown", headers={"Authorization": f"Bearer {TOKEN}"})

    with app.app_context():
        shutdown.reset()

    assert client.get("/").text == "ok"
