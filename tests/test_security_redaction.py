"""What the status report and the log lines show never holds a secret: a
hook's exception has the credentials of its URLs and long token-like
strings redacted, and requests in flight are shown by path only, with
token-like path segments redacted.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import typing as t

import pytest
import requests

from flask_shutdown.redaction import redact

from .conftest import AppFactory
from .conftest import TOKEN

READER = "reader-token-0123456789abcdef"
DB_PASSWORD = "pw-Hk83jd92LsQ1"
DB_URL = f"postgres://app:{DB_PASSWORD}@db.internal:5432/app"
RESET = "pwresetTOKEN-8f3a9c2e71b44d0f1a2b3c4d"
QUERY_SECRET = "qs-secret-5Jd8Kw2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"could not connect to {DB_URL}: timeout",
            "could not connect to postgres://[redacted]@db.internal:5432/app: timeout",
        ),
        ("redis://:s3cret@cache:6379/0", "redis://[redacted]@cache:6379/0"),
        ("https://user@example.com/x", "https://[redacted]@example.com/x"),
        (f"GET /reset/{RESET} (3.0 s)", "GET /reset/[redacted] (3.0 s)"),
        ("token 9f86d081884c7d659a2feaa0c55ad015 refused", "token [redacted] refused"),
        ("key AbCdEfGhIjKlMnOpQrStUvWx", "key [redacted]"),
        (
            "eyJqdGkiOiI0MmFiYyJ9.ZxY1Ab.c2lnbmF0dXJlLXBhcnQtMTIz",
            "[redacted].ZxY1Ab.[redacted]",
        ),
        # Words, identifiers, short ids and paths stay readable.
        ("internationalization failed", "internationalization failed"),
        ("GET /users/42/orders (0.5 s)", "GET /users/42/orders (0.5 s)"),
        ("ConnectionError: timed out", "ConnectionError: timed out"),
        ("https://example.com/path", "https://example.com/path"),
        ("flask_shutdown_test_app", "flask_shutdown_test_app"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_status_and_logs_hold_no_secret(
    make_app: AppFactory, serve: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The review's scenario: a status-only credential read a hook's
    # database password and a reset token from the path of a request in
    # flight; the drain-timeout log line carried the same path.
    caplog.set_level(logging.DEBUG, logger="flask_shutdown")
    stops: list[t.Any] = []
    app, shutdown = make_app(
        SHUTDOWN_TOKENS={"deploy": TOKEN, "monitor": READER},
        SHUTDOWN_ROLES={"token:monitor": ["status"]},
        SHUTDOWN_DRAIN_TIMEOUT=0.3,
        # Report the stop without stopping, to read the status over HTTP.
        SHUTDOWN_STRATEGY=stops.append,
    )

    @app.get("/reset/<token>")
    def reset(token: str) -> str:
        time.sleep(1.5)
        return "reset"

    @shutdown.teardown
    def close_db() -> None:
        raise ConnectionError(f"could not connect to {DB_URL}: timeout")

    server = serve(app)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(
            requests.get,
            f"{server.url}/reset/{RESET}?token={QUERY_SECRET}",
            timeout=30,
        )
        deadline = time.monotonic() + 10

        while (
            not len(app.extensions["shutdown"].in_flight)
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)

        rv = requests.post(
            f"{server.url}/shutdown",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert rv.status_code == 202
        assert app.extensions["shutdown"].coordinator.wait(10)
        status = requests.get(
            f"{server.url}/shutdown/status",
            headers={"Authorization": f"Bearer {READER}"},
            timeout=10,
        )
        assert slow.result().status_code == 200

    assert status.status_code == 200
    report = status.json()
    assert report["drain_timed_out"] is True
    assert report["still_running"][0].startswith("GET /reset/[redacted] (")
    assert report["hooks"][0]["status"] == "error"
    assert report["hooks"][0]["error"] == (
        "ConnectionError: could not connect to"
        " postgres://[redacted]@db.internal:5432/app: timeout"
    )
    texts = [status.text]

    # The package's own log lines; Werkzeug's access log is the server's.
    for record in caplog.records:
        if not record.name.startswith("flask_shutdown"):
            continue

        texts.append(record.getMessage())

        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))

    blob = "\n".join(texts)
    # The scan sees what it should: the drain log line and the hook's
    # traceback are there.
    assert "GET /reset/[redacted]" in caplog.text
    assert "Traceback" in blob and "close_db" in blob

    for secret in (DB_PASSWORD, RESET, QUERY_SECRET):
        assert secret not in blob
