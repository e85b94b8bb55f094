"""Roles: SHUTDOWN_ROLES and token scopes limit what a principal may do."""

from __future__ import annotations

import typing as t

import pytest
import requests

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import SECRET_KEY
from .conftest import USER

READER = "reader-token-0123456789abcdef"
OPERATOR = "operator-token-0123456789abcdef"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _app(make_app: AppFactory, **config: t.Any) -> tuple[t.Any, list[t.Any]]:
    stops: list[t.Any] = []
    config.setdefault("SHUTDOWN_TOKENS", {"reader": READER, "operator": OPERATOR})
    config.setdefault("SHUTDOWN_ROLES", {"token:reader": ["status"]})
    app, _ = make_app(SHUTDOWN_STRATEGY=stops.append, **config)
    return app, stops


def test_status_only_token_cannot_stop(make_app: AppFactory) -> None:
    app, stops = _app(make_app)
    client = app.test_client()

    with client.get("/shutdown/status", headers=_bearer(READER)) as rv:
        assert rv.status_code == 200
        assert rv.json["phase"] == "running"

    # Refused as often as it is tried: a valid but limited credential is
    # not a failed guess, so the lockout does not count it.
    for _ in range(8):
        rv = client.post("/shutdown", headers=_bearer(READER))
        assert rv.status_code == 403
        assert rv.json["error"] == "forbidden"
        assert "SHUTDOWN_ROLES" in rv.json["message"]

    assert app.extensions["shutdown"].coordinator.record is None
    assert stops == []
    rv = client.post("/shutdown", headers=_bearer(OPERATOR))
    assert rv.status_code == 202
    assert rv.json["requested_by"] == "token:operator"


def test_shutdown_only_user_cannot_read_status(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, _ = _app(make_app, SHUTDOWN_ROLES={f"user:{USER}": "shutdown"})
    server = serve(app)
    rv = requests.get(f"{server.url}/shutdown/status", auth=(USER, PASSWORD), timeout=5)
    assert rv.status_code == 403
    assert rv.json()["error"] == "forbidden"
    rv = requests.get(
        f"{server.url}/shutdown/status", headers=_bearer(OPERATOR), timeout=5
    )
    assert rv.status_code == 200
    rv = requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=5)
    assert rv.status_code == 202


def test_no_roles_means_both(make_app: AppFactory) -> None:
    app, _ = _app(make_app, SHUTDOWN_ROLES={})
    client = app.test_client()

    with client.get("/shutdown/status", headers=_bearer(READER)) as rv:
        assert rv.status_code == 200

    assert client.post("/shutdown", headers=_bearer(READER)).status_code == 202


def test_empty_roles_mean_nothing(make_app: AppFactory) -> None:
    app, _ = _app(make_app, SHUTDOWN_ROLES={"token:reader": []})
    client = app.test_client()
    assert client.get("/shutdown/status", headers=_bearer(READER)).status_code == 403
    assert client.post("/shutdown", headers=_bearer(READER)).status_code == 403


def test_signed_token_scope(make_app: AppFactory) -> None:
    app, stops = _app(make_app, SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=SECRET_KEY)
    shutdown = app.extensions["shutdown"].extension

    with app.app_context():
        status_only = shutdown.create_token(scope=["status"])
        stop_only = shutdown.create_token(scope=["shutdown"])

    client = app.test_client()

    with client.get("/shutdown/status", headers=_bearer(status_only)) as rv:
        assert rv.status_code == 200

    assert client.post("/shutdown", headers=_bearer(status_only)).status_code == 403
    assert client.get("/shutdown/status", headers=_bearer(stop_only)).status_code == 403
    assert app.extensions["shutdown"].coordinator.record is None
    assert client.post("/shutdown", headers=_bearer(stop_only)).status_code == 202

    with app.app_context(), pytest.raises(ValueError, match="scope"):
        shutdown.create_token(scope=["admin"])


def test_unknown_role_refused_at_init_app(make_app: AppFactory) -> None:
    with pytest.raises(RuntimeError, match="SHUTDOWN_ROLES"):
        _app(make_app, SHUTDOWN_ROLES={"token:reader": ["stop"]})
