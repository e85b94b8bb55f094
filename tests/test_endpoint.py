"""POST /shutdown against a real ServerThread, with real clients: curl and
requests, both auth schemes, and the refusals.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import typing as t

import pytest
import requests
from itsdangerous import URLSafeTimedSerializer

from flask_shutdown.tokens import SALT

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import SECRET_KEY
from .conftest import TOKEN
from .conftest import USER

CURL = shutil.which("curl")


def curl(*args: str) -> tuple[int, dict[str, str], str]:
    """Run curl; return status, headers (lower-case names) and body."""
    assert CURL is not None, "curl is needed by these tests"
    out = subprocess.run(
        [CURL, "-s", "-i", "--max-time", "10", *args],
        capture_output=True,
        timeout=20,
        check=True,
    ).stdout.decode()
    head, _, body = out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}

    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()

    # The body arrived complete.
    if "content-length" in headers:
        assert len(body.encode()) == int(headers["content-length"])

    return status, headers, body


def test_curl_bearer_token_stops_server(make_app: AppFactory, serve: t.Any) -> None:
    app, shutdown = make_app()
    ran = []
    shutdown.teardown(lambda: ran.append("hook"))
    server = serve(app)

    status, headers, body = curl(
        "-X", "POST", "-H", f"Authorization: Bearer {TOKEN}", f"{server.url}/shutdown"
    )

    assert status == 202
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["status"] == "accepted"
    assert data["requested_by"] == "token:0"
    assert headers["location"] == "/shutdown/status"
    server.join(10)
    assert not server.is_alive()
    assert ran == ["hook"]

    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)


def test_curl_basic_auth_stops_server(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app()
    server = serve(app)
    status, _, body = curl(
        "-X", "POST", "-u", f"{USER}:{PASSWORD}", f"{server.url}/shutdown"
    )
    assert status == 202
    assert json.loads(body)["requested_by"] == f"user:{USER}"
    server.join(10)
    assert not server.is_alive()


def test_requests_basic_auth_with_reason(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app()
    server = serve(app)
    rv = requests.post(
        f"{server.url}/shutdown",
        auth=(USER, PASSWORD),
        json={"reason": "deploy 42"},
        timeout=10,
    )
    assert rv.status_code == 202
    assert rv.json()["reason"] == "deploy 42"
    server.join(10)
    assert not server.is_alive()
    assert app.extensions["shutdown"].status()["reason"] == "deploy 42"


def test_requests_signed_token(make_app: AppFactory, serve: t.Any) -> None:
    app, shutdown = make_app(SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=SECRET_KEY)

    with app.app_context():
        token = shutdown.create_token(expires_in=60)

    server = serve(app)
    rv = requests.post(
        f"{server.url}/shutdown",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert rv.status_code == 202
    assert rv.json()["requested_by"].startswith("signed:")
    server.join(10)
    assert not server.is_alive()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-credentials"),
        pytest.param(
            ["-H", "Authorization: Bearer wrong-token-0123456789"], id="bad-token"
        ),
        pytest.param(["-u", f"{USER}:wrong"], id="bad-password"),
        pytest.param(["-u", f"nobody:{PASSWORD}"], id="bad-user"),
        pytest.param(["-H", "Authorization: Bearer"], id="empty-bearer"),
        pytest.param(["-H", "Authorization: Digest abc"], id="other-scheme"),
    ],
)
def test_refused_credentials_change_nothing(
    make_app: AppFactory, serve: t.Any, args: list[str]
) -> None:
    app, shutdown = make_app()
    ran = []
    shutdown.teardown(lambda: ran.append("hook"))
    server = serve(app)

    status, headers, body = curl("-X", "POST", *args, f"{server.url}/shutdown")

    assert status == 401
    assert "www-authenticate" in headers
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "unauthorized"
    # Nothing happened: still serving, no shutdown recorded, no hook ran.
    assert requests.get(server.url, timeout=5).text == "ok"
    assert app.extensions["shutdown"].coordinator.record is None
    assert ran == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_405(make_app: AppFactory, serve: t.Any, method: str) -> None:
    app, _ = make_app()
    server = serve(app)
    rv = requests.request(
        method, f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=5
    )
    assert rv.status_code == 405
    assert rv.headers["Allow"] == "POST"
    assert rv.json()["error"] == "method_not_allowed"
    assert app.extensions["shutdown"].coordinator.record is None


def test_not_exposed_without_credentials(serve: t.Any) -> None:
    from flask import Flask

    from flask_shutdown import Shutdown

    app = Flask("bare")
    Shutdown(app)
    server = serve(app)
    status, _, _ = curl(
        "-X", "POST", "-u", f"{USER}:{PASSWORD}", f"{server.url}/shutdown"
    )
    assert status == 404
    assert app.extensions["shutdown"].coordinator.record is None


def test_status_report(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app()
    server = serve(app)
    rv = requests.get(f"{server.url}/shutdown/status", auth=(USER, PASSWORD), timeout=5)
    assert rv.status_code == 200
    data = rv.json()
    assert data["phase"] == "running"
    assert data["ready"] is True
    assert data["shutdown_id"] is None
    # The status request does not count itself.
    assert data["in_flight"] == 0
    assert requests.get(f"{server.url}/shutdown/status", timeout=5).status_code == 401


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        pytest.param({"data": "x" * 5000}, 413, "body_too_large", id="huge"),
        pytest.param({"data": "reason=x"}, 415, "unsupported_media_type", id="form"),
        pytest.param(
            {"data": "{nope", "headers": {"Content-Type": "application/json"}},
            400,
            "bad_json",
            id="bad-json",
        ),
        pytest.param({"json": ["list"]}, 400, "bad_body", id="list"),
        pytest.param({"json": {"reason": 3}}, 400, "bad_reason", id="reason-type"),
        pytest.param(
            {"json": {"reason": "x", "force": True}}, 400, "bad_body", id="extra"
        ),
    ],
)
def test_bad_bodies_are_refused(
    make_app: AppFactory,
    serve: t.Any,
    kwargs: dict[str, t.Any],
    status: int,
    error: str,
) -> None:
    app, _ = make_app()
    server = serve(app)
    rv = requests.post(
        f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=5, **kwargs
    )
    assert rv.status_code == status
    assert rv.json()["error"] == error
    assert app.extensions["shutdown"].coordinator.record is None
    assert requests.get(server.url, timeout=5).text == "ok"


class _PastSerializer(URLSafeTimedSerializer):
    """Signs with a timestamp an hour ago, to make an expired token."""

    def make_signer(self, salt: t.Any = None) -> t.Any:
        signer = super().make_signer(salt)
        signer.get_timestamp = lambda: int(time.time()) - 3600  # type: ignore[method-assign]
        return signer


@pytest.mark.parametrize("kind", ["tampered", "expired", "other-key", "session-cookie"])
def test_bad_signed_tokens_over_http(
    make_app: AppFactory, serve: t.Any, kind: str
) -> None:
    app, shutdown = make_app(SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=SECRET_KEY)

    with app.app_context():
        good = shutdown.create_token(expires_in=60)

    if kind == "tampered":
        i = len(good) // 2
        token = good[:i] + ("A" if good[i] != "A" else "B") + good[i + 1 :]
    elif kind == "expired":
        payload = {"jti": "old", "exp": 60, "scope": ["shutdown", "status"]}
        token = _PastSerializer([SECRET_KEY], salt=SALT).dumps(payload)
    elif kind == "other-key":
        other, other_shutdown = make_app(
            SHUTDOWN_SIGNED_TOKENS=True,
            SECRET_KEY="another-secret-key-of-enough-length",
        )

        with other.app_context():
            token = other_shutdown.create_token(expires_in=60)
    else:
        # A value signed with the same key for Flask's session cookie.
        session = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        token = session.dumps({"jti": "x", "exp": 60, "scope": ["shutdown"]})

    server = serve(app)
    rv = requests.post(
        f"{server.url}/shutdown",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert rv.status_code == 401
    assert rv.json()["error"] == "unauthorized"
    # The expired token's signature is good: it fails for its age alone.
    assert ("expired" in rv.json()["message"]) == (kind == "expired")
    assert "WWW-Authenticate" in rv.headers
    assert app.extensions["shutdown"].coordinator.record is None
    assert requests.get(server.url, timeout=5).text == "ok"
