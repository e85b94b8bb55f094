"""Signed tokens: single use, refused when expired, tampered, or signed
with another salt or key; key rotation through SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import types
import typing as t

import pytest
import requests
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

import flask_shutdown.tokens
from flask_shutdown import shared
from flask_shutdown import Shutdown
from flask_shutdown.tokens import SALT
from flask_shutdown.tokens import TokenSigner

from .conftest import AppFactory
from .conftest import SECRET_KEY

OTHER_KEY = "another-secret-key-also-long-enough"


def _signed_app(
    make_app: AppFactory, **config: t.Any
) -> tuple[Flask, Shutdown, list[t.Any]]:
    stops: list[t.Any] = []
    config.setdefault("SECRET_KEY", SECRET_KEY)
    app, shutdown = make_app(
        SHUTDOWN_SIGNED_TOKENS=True, SHUTDOWN_STRATEGY=stops.append, **config
    )
    return app, shutdown, stops


def _token(app: Flask, shutdown: Shutdown, **kwargs: t.Any) -> str:
    with app.app_context():
        return shutdown.create_token(**kwargs)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_401(rv: t.Any, error: str = "unauthorized") -> None:
    assert rv.status_code == 401
    assert rv.json["error"] == error
    assert rv.headers["WWW-Authenticate"].startswith("Bearer ")


def test_signed_token_stops_once(make_app: AppFactory) -> None:
    app, shutdown, stops = _signed_app(make_app)
    token = _token(app, shutdown)
    client = app.test_client()
    state = app.extensions["shutdown"]

    # Reading the status does not use the token up.
    for _ in range(3):
        with client.get("/shutdown/status", headers=_bearer(token)) as rv:
            assert rv.status_code == 200

    rv = client.post("/shutdown", headers=_bearer(token))
    assert rv.status_code == 202
    assert rv.json["requested_by"].startswith("signed:")
    # The sequence starts once the response has been sent in full.
    rv.close()
    assert state.coordinator.wait(10)
    assert len(stops) == 1
    state.coordinator.reset()

    rv = client.post("/shutdown", headers=_bearer(token))
    _assert_401(rv, "token_used")
    assert state.coordinator.record is None
    assert len(stops) == 1
    # A fresh token works again.
    assert (
        client.post("/shutdown", headers=_bearer(_token(app, shutdown))).status_code
        == 202
    )


def test_concurrent_replay_one_wins(make_app: AppFactory, serve: t.Any) -> None:
    # Without the lockout, so that every replay reaches the replay check.
    app, shutdown, _ = _signed_app(make_app, SHUTDOWN_LOCKOUT_ATTEMPTS=0)
    token = _token(app, shutdown)
    server = serve(app)
    barrier = threading.Barrier(10, timeout=10)

    def post(i: int) -> int:
        barrier.wait()
        return requests.post(
            f"{server.url}/shutdown", headers=_bearer(token), timeout=10
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(post, range(10)))

    assert statuses == [202] + [401] * 9


def test_expired_token_refused(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, shutdown, _ = _signed_app(make_app)
    token = _token(app, shutdown, expires_in=30)
    client = app.test_client()
    assert client.get("/shutdown/status", headers=_bearer(token)).status_code == 200
    later = types.SimpleNamespace(time=lambda: time.time() + 31)
    monkeypatch.setattr(flask_shutdown.tokens, "time", later)
    rv = client.post("/shutdown", headers=_bearer(token))
    _assert_401(rv)
    assert "expired" in rv.json["message"]
    assert app.extensions["shutdown"].coordinator.record is None


def test_token_from_the_future_refused(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, shutdown, _ = _signed_app(make_app)
    token = _token(app, shutdown)
    earlier = types.SimpleNamespace(time=lambda: time.time() - 3600)
    monkeypatch.setattr(flask_shutdown.tokens, "time", earlier)
    _assert_401(app.test_client().post("/shutdown", headers=_bearer(token)))


def _flip(text: str, index: int) -> str:
    ch = text[index]
    return text[:index] + ("A" if ch != "A" else "B") + text[index + 1 :]


def test_tampered_tokens_refused(make_app: AppFactory) -> None:
    app, shutdown, _ = _signed_app(make_app, SHUTDOWN_LOCKOUT_ATTEMPTS=0)
    token = _token(app, shutdown)
    client = app.test_client()
    payload, stamp, signature = token.split(".")
    variants = [
        _flip(token, 0),
        _flip(token, len(payload) + 2),
        # Not the last character: base64 keeps padding bits there, so some
        # changes to it decode to the same signature.
        _flip(token, len(token) - 5),
        token[:-1],
        token + "A",
        f"{payload}.{stamp}",
        f"{payload}..{signature}",
        token.replace(".", "", 1),
    ]

    for variant in variants:
        _assert_401(client.post("/shutdown", headers=_bearer(variant)))

    assert app.extensions["shutdown"].coordinator.record is None


def test_payload_swap_with_valid_signature_format_refused(make_app: AppFactory) -> None:
    # A scope widened by hand: the signature no longer matches.
    app, shutdown, _ = _signed_app(make_app)
    narrow = _token(app, shutdown, scope=["status"])
    wide = _token(app, shutdown)
    forged = wide.split(".")[0] + "." + ".".join(narrow.split(".")[1:])
    _assert_401(app.test_client().post("/shutdown", headers=_bearer(forged)))


@pytest.mark.parametrize(
    ("key", "salt"),
    [
        pytest.param(SECRET_KEY, "other-salt", id="wrong-salt"),
        pytest.param(SECRET_KEY, "cookie-session", id="session-cookie-salt"),
        pytest.param(OTHER_KEY, SALT, id="wrong-key"),
    ],
)
def test_other_salt_or_key_refused(make_app: AppFactory, key: str, salt: str) -> None:
    app, _, _ = _signed_app(make_app)
    payload = {"jti": "forged-id", "exp": 300, "scope": ["shutdown", "status"]}
    forged = URLSafeTimedSerializer(key, salt=salt).dumps(payload)
    rv = app.test_client().post("/shutdown", headers=_bearer(forged))
    _assert_401(rv)
    assert app.extensions["shutdown"].coordinator.record is None


def test_flask_session_cookie_is_not_a_token(make_app: AppFactory) -> None:
    app, _, _ = _signed_app(make_app)
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = serializer.dumps({"jti": "x", "exp": 300, "scope": ["shutdown"]})
    _assert_401(app.test_client().post("/shutdown", headers=_bearer(cookie)))


def test_key_rotation_verifies_with_all_signs_with_current(
    make_app: AppFactory,
) -> None:
    old_app, old_shutdown, _ = _signed_app(make_app, SECRET_KEY=OTHER_KEY)
    old_token = _token(old_app, old_shutdown)

    # Rotated: the old key moved to the fallbacks.
    app, shutdown, _ = _signed_app(
        make_app, SECRET_KEY=SECRET_KEY, SECRET_KEY_FALLBACKS=[OTHER_KEY]
    )
    client = app.test_client()
    assert client.get("/shutdown/status", headers=_bearer(old_token)).status_code == 200

    # New tokens are signed with the current key, not a fallback: only
    # the current key verifies them.
    new_token = _token(app, shutdown)
    URLSafeTimedSerializer(SECRET_KEY, salt=SALT).loads(new_token)

    with pytest.raises(Exception, match="Signature"):
        URLSafeTimedSerializer(OTHER_KEY, salt=SALT).loads(new_token)

    current_only, _, _ = _signed_app(make_app, SECRET_KEY=SECRET_KEY)
    old_only, _, _ = _signed_app(make_app, SECRET_KEY=OTHER_KEY)
    status = "/shutdown/status"
    assert (
        current_only.test_client().get(status, headers=_bearer(new_token)).status_code
        == 200
    )
    _assert_401(old_only.test_client().get(status, headers=_bearer(new_token)))
    # Once the fallback is dropped, old tokens stop working.
    _assert_401(current_only.test_client().get(status, headers=_bearer(old_token)))


def test_signed_off_by_default(make_app: AppFactory) -> None:
    app, shutdown = make_app(SECRET_KEY=SECRET_KEY)
    assert app.config["SHUTDOWN_SIGNED_TOKENS"] is False
    forged = URLSafeTimedSerializer(SECRET_KEY, salt=SALT).dumps(
        {"jti": "x", "exp": 300, "scope": ["shutdown"]}
    )
    _assert_401(app.test_client().post("/shutdown", headers=_bearer(forged)))

    with app.app_context(), pytest.raises(RuntimeError, match="SHUTDOWN_SIGNED_TOKENS"):
        shutdown.create_token()


def test_lifetime_is_bounded(make_app: AppFactory) -> None:
    app, shutdown, _ = _signed_app(make_app)

    for bad in (0, -1, 10**9):
        with pytest.raises(ValueError, match="expires_in"):
            _token(app, shutdown, expires_in=bad)


@pytest.mark.parametrize("kind", ["process", "server"])
def test_replay_store_forgets_expired_tokens(kind: str, tmp_path: t.Any) -> None:
    store = (
        shared.LocalState()
        if kind == "process"
        else shared.FileState(tmp_path / "1-app.state")
    )
    signer = TokenSigner([SECRET_KEY])
    tokens = [signer.verify(signer.create(60, ["shutdown"])) for _ in range(5)]

    for token in tokens:
        assert store.use_once(token.jti, token.expires_at)
        assert not store.use_once(token.jti, token.expires_at)

    for i in range(100):
        assert store.use_once(f"old{i}", 0)

    # Using a token prunes what has expired: the store holds live ids only.
    token = signer.verify(signer.create(60, ["shutdown"]))
    assert store.use_once(token.jti, token.expires_at)

    if kind == "process":
        assert len(store._used) == 6
    else:
        doc = json.loads((tmp_path / "1-app.state").read_text())
        assert len(doc["used_tokens"]) == 6
