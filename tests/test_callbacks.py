"""The app's own credentials: verify_token and verify_password callbacks,
with the JWT and database-user examples run against real servers."""

from __future__ import annotations

import importlib
import sys
import typing as t
from pathlib import Path

import pytest
import requests
from flask import Flask

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

from ._proc import ROOT

EXAMPLES = ROOT / "examples"


@pytest.fixture
def example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> t.Callable[[str], t.Any]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("DATABASE", str(tmp_path / "users.sqlite3"))

    def load(name: str) -> t.Any:
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


def test_jwt_example(
    example: t.Callable[[str], t.Any], caplog: pytest.LogCaptureFixture
) -> None:
    jwt_app = example("jwt_app")
    app = jwt_app.create_app()
    ran: list[str] = []
    jwt_app.shutdown.teardown(lambda: ran.append("hook"))
    server = ServerThread(app, port=0)
    server.start()

    def post(token: str) -> requests.Response:
        return requests.post(
            f"{server.url}/shutdown",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    try:
        # A token whose roles do not include "shutdown": 403, named.
        rv = post(jwt_app.make_token(roles=("status",)))
        assert rv.status_code == 403
        assert rv.json()["error"] == "forbidden"
        assert "by app:deploy-bot" in caplog.text
        # Not a JWT of this key: 401.
        assert post("not-a-jwt-at-all").status_code == 401

        rv = post(jwt_app.make_token())
        assert rv.status_code == 202
        assert rv.json()["requested_by"] == "app:deploy-bot"
        assert server.wait_stopped(10)
        assert ran == ["hook"]
    finally:
        server.stop_serving()


def test_database_users_example(example: t.Callable[[str], t.Any]) -> None:
    db_users_app = example("db_users_app")
    app = db_users_app.create_app()
    server = ServerThread(app, port=0)
    server.start()
    url = server.url

    try:
        viewer = ("viewer", "read-only-password")
        assert requests.get(f"{url}/shutdown/status", auth=viewer, timeout=10).ok
        rv = requests.post(f"{url}/shutdown", auth=viewer, timeout=10)
        assert rv.status_code == 403
        rv = requests.post(f"{url}/shutdown", auth=("ops", "wrong"), timeout=10)
        assert rv.status_code == 401
        assert rv.headers["WWW-Authenticate"].startswith("Basic ")
        rv = requests.post(
            f"{url}/shutdown", auth=("ops", "correct-horse-battery"), timeout=10
        )
        assert rv.status_code == 202
        assert rv.json()["requested_by"] == "app:ops"
        assert server.wait_stopped(10)
    finally:
        server.stop_serving()


def test_callback_that_raises_is_a_logged_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shutdown = Shutdown()

    @shutdown.verify_token
    def broken(token: str) -> None:
        raise ConnectionError("user database is down")

    app = Flask("broken")
    shutdown.init_app(app)
    rv = app.test_client().post("/shutdown", headers={"Authorization": "Bearer abc"})
    assert rv.status_code == 401
    assert rv.json == {
        "error": "unauthorized",
        "message": "The credentials could not be checked.",
    }
    assert "ConnectionError: user database is down" in caplog.text
    assert "callback_error" in caplog.text


def test_callbacks_count_for_the_lockout() -> None:
    shutdown = Shutdown()
    shutdown.verify_token(lambda token: None)
    app = Flask("locked")
    app.config["SHUTDOWN_LOCKOUT_ATTEMPTS"] = 2
    shutdown.init_app(app)
    client = app.test_client()
    codes = [
        client.post(
            "/shutdown", headers={"Authorization": f"Bearer guess{i}"}
        ).status_code
        for i in range(3)
    ]
    assert codes == [401, 401, 429]


def test_config_credentials_and_callbacks_combine() -> None:
    shutdown = Shutdown()
    shutdown.verify_token(
        lambda token: {"name": "api"} if token == "app-key-42" else None
    )
    app = Flask("both")
    app.config["SHUTDOWN_TOKENS"] = {"ops": "a-long-static-token-0123"}
    shutdown.init_app(app)
    client = app.test_client()
    headers = {"Authorization": "Bearer a-long-static-token-0123"}
    assert client.get("/shutdown/status", headers=headers).status_code == 200
    headers = {"Authorization": "Bearer app-key-42"}
    assert client.get("/shutdown/status", headers=headers).status_code == 200
