"""Fail closed: what is not safely configured is not exposed, and unsafe
secrets are refused when the app starts, not at the first request.
"""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from flask_shutdown import Shutdown
from flask_shutdown.tokens import PLACEHOLDER_KEYS

from .conftest import AppFactory
from .conftest import SECRET_KEY
from .conftest import TOKEN


def test_no_credentials_not_exposed_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask("bare")
    caplog.set_level(logging.WARNING, "flask_shutdown")
    Shutdown(app)
    client = app.test_client()

    for method, path in [
        ("POST", "/shutdown"),
        ("GET", "/shutdown"),
        ("GET", "/shutdown/status"),
    ]:
        rv = client.open(
            path, method=method, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert rv.status_code == 404

    assert app.extensions["shutdown"].coordinator.record is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not exposed" in m and "SHUTDOWN_TOKENS" in m for m in warnings)
    # The unauthenticated readiness endpoint stays.
    assert client.get("/shutdown/ready").status_code == 200


@pytest.mark.parametrize("key", [None, "", *sorted(PLACEHOLDER_KEYS)[:8], "short-key"])
def test_signed_tokens_need_a_strong_secret_key(key: str | None) -> None:
    app = Flask("weak")
    app.config.update(SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=key)

    # Refused at init_app: never a running app that fails at request time.
    with pytest.raises(RuntimeError, match="SECRET_KEY") as info:
        Shutdown(app)

    assert "shutdown" not in app.extensions
    message = str(info.value)

    if key:
        assert key not in message.replace("SECRET_KEY", "")


def test_placeholder_in_key_fallbacks_is_refused() -> None:
    app = Flask("weak")
    app.config.update(
        SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=SECRET_KEY, SECRET_KEY_FALLBACKS=["dev"]
    )

    with pytest.raises(RuntimeError, match="SECRET_KEY_FALLBACKS"):
        Shutdown(app)


def test_placeholder_key_is_case_and_space_insensitive() -> None:
    app = Flask("weak")
    app.config.update(SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY="  ChangeMe  ")

    with pytest.raises(RuntimeError, match="placeholder"):
        Shutdown(app)


def test_strong_secret_key_is_accepted(make_app: AppFactory) -> None:
    app, shutdown = make_app(SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=SECRET_KEY)

    with app.app_context():
        token = shutdown.create_token()

    rv = app.test_client().get(
        "/shutdown/status", headers={"Authorization": f"Bearer {token}"}
    )
    assert rv.status_code == 200


def test_short_static_token_is_refused_at_init_app(make_app: AppFactory) -> None:
    short = "s3cr3t-shrt"  # 11 characters, one under the default of 12

    with pytest.raises(RuntimeError, match="SHUTDOWN_MIN_TOKEN_LENGTH") as info:
        make_app(SHUTDOWN_TOKENS=[short])

    # The error names the token, never its value.
    assert short not in str(info.value)


def test_min_token_length_is_configurable(make_app: AppFactory) -> None:
    with pytest.raises(RuntimeError, match="shorter than 40"):
        make_app(SHUTDOWN_MIN_TOKEN_LENGTH=40)

    app, _ = make_app(SHUTDOWN_TOKENS=["k3Vq9ZpX2mLr"])
    rv = app.test_client().get(
        "/shutdown/status", headers={"Authorization": "Bearer k3Vq9ZpX2mLr"}
    )
    assert rv.status_code == 200


def test_plain_password_is_refused_at_init_app(make_app: AppFactory) -> None:
    with pytest.raises(RuntimeError, match="not a Werkzeug password hash") as info:
        make_app(SHUTDOWN_USERS={"ops": "hunter2hunter2"})

    assert "hunter2" not in str(info.value)
