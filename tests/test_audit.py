"""The audit trail: one record per attempt on the flask_shutdown logger,
with who, from where, the outcome and why; never a secret.
"""

from __future__ import annotations

import base64
import datetime
import logging
import typing as t

import pytest
import requests

from flask_shutdown.audit import AuditEvent

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import PASSWORD_HASH
from .conftest import SECRET_KEY
from .conftest import TOKEN
from .conftest import USER

STATUS_TOKEN = "status-token-0123456789abcdef"
#: A wrong password that looks like a user name: it must not be logged.
WRONG_PASSWORD = "Wr0ng-Passw0rd-Guess"
#: An unknown "user name" that is really a mistyped password.
MISTYPED = "correct-horse-battery-as-user"


def _events(caplog: pytest.LogCaptureFixture) -> list[AuditEvent]:
    return [r.audit for r in caplog.records if hasattr(r, "audit")]


def _app(make_app: AppFactory, **config: t.Any) -> tuple[t.Any, t.Any]:
    stops: list[t.Any] = []
    config.setdefault("SHUTDOWN_STRATEGY", stops.append)
    app, shutdown = make_app(
        SHUTDOWN_TOKENS={"main": TOKEN, "status": STATUS_TOKEN},
        SHUTDOWN_ROLES={"token:status": ["status"]},
        SHUTDOWN_SIGNED_TOKENS=True,
        SECRET_KEY=SECRET_KEY,
        **config,
    )
    return app, shutdown


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_one_record_per_attempt_with_fields(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app, shutdown = _app(make_app, SHUTDOWN_LOCKOUT_ATTEMPTS=3)
    client = app.test_client()

    with app.app_context():
        signed = shutdown.create_token()

    cases: list[tuple[dict[str, t.Any], tuple[str, str, str | None, int]]] = [
        (
            {"method": "GET", "path": "/shutdown/status", "headers": _bearer(TOKEN)},
            ("accepted", "status_read", "token:main", 200),
        ),
        (
            {"method": "POST", "headers": _bearer(STATUS_TOKEN)},
            ("refused", "forbidden_role", "token:status", 403),
        ),
        (
            {"method": "POST", "headers": _bearer("not-a-valid-token-at-all")},
            ("refused", "bad_token", None, 401),
        ),
        (
            {"method": "POST", "auth": (USER, WRONG_PASSWORD)},
            ("refused", "bad_password", f"user:{USER}", 401),
        ),
        (
            {"method": "POST", "auth": (MISTYPED, PASSWORD)},
            ("refused", "unknown_user", None, 401),
        ),
        ({"method": "POST"}, ("refused", "no_credentials", None, 401)),
        (
            {"method": "POST", "headers": {"Authorization": "Digest abc"}},
            ("refused", "bad_authorization", None, 401),
        ),
        (
            {"method": "GET", "headers": _bearer(TOKEN)},
            ("refused", "method_not_allowed", None, 405),
        ),
        (
            {"method": "POST", "headers": _bearer(TOKEN), "data": "x=1"},
            ("refused", "unsupported_media_type", "token:main", 415),
        ),
        (
            {
                "method": "POST",
                "headers": _bearer(TOKEN),
                "environ_base": {"REMOTE_ADDR": "203.0.113.9"},
            },
            ("refused", "forbidden_network", None, 403),
        ),
        (
            {
                "method": "POST",
                "headers": {**_bearer(TOKEN), "Origin": "https://evil.example"},
            },
            ("refused", "cross_site", None, 403),
        ),
        (
            {
                "method": "POST",
                "headers": _bearer(signed),
                "json": {"reason": "deploy 42"},
            },
            ("accepted", "shutdown_requested", None, 202),
        ),
        (
            {"method": "POST", "headers": _bearer(TOKEN), "json": {"reason": "again"}},
            ("accepted", "shutdown_in_progress", "token:main", 202),
        ),
        (
            {"method": "POST", "headers": _bearer(signed)},
            ("refused", "token_used", None, 401),
        ),
        (
            {
                "method": "POST",
                "headers": {**_bearer(TOKEN), "Host": "evil.example:5000"},
            },
            ("refused", "untrusted_host", None, 400),
        ),
        # Three failed guesses from 127.0.0.1 (bad_token, bad_password,
        # unknown_user; no_credentials and bad_authorization guess
        # nothing): a password is no longer checked.
        (
            {"method": "POST", "auth": (USER, PASSWORD)},
            ("refused", "too_many_attempts", None, 429),
        ),
    ]
    jti = signed  # filled in below
    before = datetime.datetime.now(datetime.timezone.utc)

    for kwargs, (outcome, reason, principal, status) in cases:
        kwargs = dict(kwargs)
        kwargs.setdefault("path", "/shutdown")
        caplog.clear()

        with client.open(**kwargs) as rv:
            assert rv.status_code == status, (reason, rv.json)

        events = _events(caplog)
        assert len(events) == 1, reason
        event = events[0]
        assert (event.outcome, event.reason, event.status) == (outcome, reason, status)
        assert event.remote_addr == kwargs.get("environ_base", {}).get(
            "REMOTE_ADDR", "127.0.0.1"
        )
        assert event.method == kwargs["method"]
        assert event.path == kwargs["path"]
        assert datetime.datetime.fromisoformat(event.time) >= before

        if reason in ("shutdown_requested", "token_used"):
            assert event.principal is not None
            assert event.principal.startswith("signed:")
            jti = event.principal if reason == "shutdown_requested" else jti
            assert event.principal == jti
        else:
            assert event.principal == principal

        if reason == "shutdown_requested":
            assert event.shutdown_reason == "deploy 42"
            assert event.shutdown_id == app.extensions["shutdown"].coordinator.record.id

        record = next(r for r in caplog.records if hasattr(r, "audit"))
        assert record.name == "flask_shutdown.audit"
        expected = logging.INFO if reason == "status_read" else logging.WARNING
        assert record.levelno == expected
        assert reason in record.getMessage()


def test_client_text_cannot_forge_log_lines(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "flask_shutdown")
    app, _ = _app(make_app)
    client = app.test_client()
    reason = "deploy\nWARNING forged line\x1b[31m" + "x" * 600
    rv = client.post("/shutdown", headers=_bearer(TOKEN), json={"reason": reason[:500]})
    assert rv.status_code == 202
    event = _events(caplog)[-1]
    assert event.shutdown_reason is not None
    assert "\n" not in event.shutdown_reason and "\x1b" not in event.shutdown_reason

    for record in caplog.records:
        assert "\n" not in record.getMessage()
        assert "\x1b" not in record.getMessage()


def _secrets(signed: list[str]) -> list[str]:
    hash_parts = PASSWORD_HASH.split("$")
    rv = [
        TOKEN,
        STATUS_TOKEN,
        PASSWORD,
        WRONG_PASSWORD,
        MISTYPED,
        PASSWORD_HASH,
        hash_parts[1],  # the salt
        hash_parts[2],  # the digest
        SECRET_KEY,
        base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    ]

    for token in signed:
        rv.append(token)
        rv.append(token.rsplit(".", 1)[1])  # the signature

    return rv


def test_no_secret_in_logs_or_responses(
    make_app: AppFactory, serve: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app, shutdown = _app(
        make_app, SHUTDOWN_LOCKOUT_ATTEMPTS=0, SHUTDOWN_STRATEGY="auto"
    )

    with app.app_context():
        signed = [shutdown.create_token(), shutdown.create_token(scope=["status"])]

    server = serve(app)
    url = f"{server.url}/shutdown"
    answers: list[requests.Response] = []
    attempts: list[dict[str, t.Any]] = [
        {"headers": _bearer(TOKEN[:-1])},
        {"headers": _bearer(TOKEN + "x")},
        {"auth": (USER, WRONG_PASSWORD)},
        {"auth": (MISTYPED, PASSWORD)},
        {"auth": (PASSWORD, USER)},
        {"headers": _bearer(signed[0][:-2])},
        {"headers": _bearer(signed[1])},
        {"headers": {"Authorization": f"Basic {PASSWORD}"}},
        {"headers": {"Authorization": f"Token {TOKEN}"}},
        {"headers": _bearer(TOKEN), "data": PASSWORD},
        {"headers": _bearer(TOKEN), "json": {"reason": 1, "password": PASSWORD}},
        {"headers": {**_bearer(TOKEN), "Origin": "https://evil.example"}},
    ]

    for kwargs in attempts:
        answers.append(requests.post(url, timeout=5, **kwargs))
        answers.append(requests.get(f"{url}/status", timeout=5, **kwargs))

    # A status read, and finally the shutdown itself.
    answers.append(requests.get(f"{url}/status", auth=(USER, PASSWORD), timeout=5))
    answers.append(requests.post(url, headers=_bearer(signed[0]), timeout=5))
    assert answers[-1].status_code == 202
    server.join(10)
    assert not server.is_alive()

    assert all(a.status_code < 500 for a in answers)
    audited = [r for r in caplog.records if hasattr(r, "audit")]
    assert len(audited) == len(answers)
    texts = []

    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.__dict__))

        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))

    for answer in answers:
        texts.append(answer.text)
        texts.append(repr(dict(answer.headers)))

    texts.append(repr(app.extensions["shutdown"].status()))
    blob = "\n".join(texts)

    for secret in _secrets(signed):
        assert secret not in blob, f"a secret leaked: {secret[:4]}..."

    # The scan sees what it should: the principals are there.
    assert f"user:{USER}" in blob and "token:main" in blob


def test_init_errors_carry_no_secret(make_app: AppFactory) -> None:
    for config in [
        {"SHUTDOWN_TOKENS": {"short": "tooshort123"}},
        {"SHUTDOWN_USERS": {USER: PASSWORD}},
        {"SHUTDOWN_SIGNED_TOKENS": True, "SECRET_KEY": "short-secret"},
    ]:
        with pytest.raises(RuntimeError) as info:
            make_app(**config)

        text = str(info.value) + repr(info.value.args)

        for secret in ("tooshort123", PASSWORD, "short-secret"):
            assert secret not in text
