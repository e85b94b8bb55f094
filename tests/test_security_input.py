"""Malformed input, one case at a time: each gets a 4xx JSON answer, the
server keeps running, and no shutdown starts. The fuzz tests generate many
more; these pin the cases that once broke something.
"""

from __future__ import annotations

import base64
import json
import socket
import typing as t

import pytest
import requests

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""

        while chunk := sock.recv(65536):
            received += chunk

    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}

    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()

    return int(lines[0].split()[1]), headers, body


def _app(make_app: AppFactory, **config: t.Any) -> tuple[t.Any, list[t.Any]]:
    stops: list[t.Any] = []
    app, _ = make_app(SHUTDOWN_STRATEGY=stops.append, **config)
    return app, stops


@pytest.mark.parametrize(
    "value",
    [
        # Werkzeug raises ValueError parsing these: once a 500.
        "BASIC \x80",
        "basic \xff\xfe",
        "BaSiC caf\xe9",
        "Basic \x80",
        "Basic !!!!",
        "Basic " + base64.b64encode(b"\xff\xfe:\x80").decode(),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic",
        "Bearer",
        "Bearer ",
        'Bearer a="b',
        "Bearer a=b, c=d",
        "\x00",
        " ",
        "Digest username=x",
    ],
)
def test_malformed_authorization_is_401(make_app: AppFactory, value: str) -> None:
    app, stops = _app(make_app, SHUTDOWN_LOCKOUT_ATTEMPTS=0)

    for method, path in [("POST", "/shutdown"), ("GET", "/shutdown/status")]:
        with app.test_client().open(
            path, method=method, headers={"Authorization": value}
        ) as rv:
            assert rv.status_code == 401
            assert rv.json["error"] == "unauthorized"
            assert rv.headers["WWW-Authenticate"].startswith(("Bearer ", "Basic "))

    assert stops == [] and app.extensions["shutdown"].coordinator.record is None


def test_huge_authorization_is_400(make_app: AppFactory) -> None:
    app, stops = _app(make_app)
    rv = app.test_client().post(
        "/shutdown", headers={"Authorization": "Bearer " + "A" * 5000}
    )
    assert rv.status_code == 400
    assert rv.json["error"] == "bad_authorization"
    assert stops == []


@pytest.mark.parametrize(
    "method", ["OPTIONS", "TRACE", "BREW", "PROPFIND", "GET", "PUT"]
)
@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", BASIC, None])
def test_other_methods_are_json_405(
    make_app: AppFactory, method: str, authorization: str | None
) -> None:
    # OPTIONS matters most: Flask-HTTPAuth skips authentication for it.
    app, stops = _app(make_app)
    headers = {} if authorization is None else {"Authorization": authorization}

    with app.test_client().open("/shutdown", method=method, headers=headers) as rv:
        assert rv.status_code == 405
        assert rv.json["error"] == "method_not_allowed"
        assert rv.headers["Allow"] == "POST"

    with app.test_client().open(
        "/shutdown/status", method=method, headers=headers
    ) as rv:
        if method == "GET":
            assert rv.status_code == (200 if authorization else 401)
        else:
            assert rv.status_code == 405
            assert rv.headers["Allow"] == "GET, HEAD"

    assert stops == [] and app.extensions["shutdown"].coordinator.record is None


def test_app_max_content_length_is_a_json_413(make_app: AppFactory) -> None:
    app, stops = _app(make_app, MAX_CONTENT_LENGTH=100)
    rv = app.test_client().post(
        "/shutdown",
        headers={"Authorization": BASIC},
        json={"reason": "x" * 200},
    )
    assert rv.status_code == 413
    assert rv.json["error"] == "body_too_large"
    assert stops == []


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}", id="bad-chunk-size"
        ),
        pytest.param(
            b"Transfer-Encoding: chunked\r\n\r\n5\r\n{}", id="chunk-cut-short"
        ),
        pytest.param(
            b"Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{}",
            id="body-cut-short",
        ),
        pytest.param(
            b"Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}",
            id="length-huge",
        ),
    ],
)
def test_broken_body_framing_on_a_real_server(
    make_app: AppFactory, serve: t.Any, framing: bytes
) -> None:
    # Valid credentials: the body is read, and reading it fails.
    app, stops = _app(make_app)
    server = serve(app)
    request = (
        b"POST /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + framing
    )
    status, headers, body = _raw(server.port, request)
    assert 400 <= status < 500
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] in ("bad_framing", "body_too_large")
    assert stops == [] and app.extensions["shutdown"].coordinator.record is None
    assert requests.get(server.url, timeout=5).text == "ok"


def test_non_utf8_header_bytes_on_a_real_server(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, stops = _app(make_app)
    server = serve(app)

    for value in [b"Bearer \xff\xfe\x80", b"Basic \xc3\x28", b"\xff"]:
        status, headers, body = _raw(
            server.port,
            b"POST /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
            + value
            + b"\r\nContent-Length: 0\r\n\r\n",
        )
        assert status == 401
        assert headers["www-authenticate"].startswith(("Bearer ", "Basic "))
        assert json.loads(body)["error"] == "unauthorized"

    assert stops == []
    assert requests.get(server.url, timeout=5).text == "ok"


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"CONTENT_LENGTH": "abc"}, id="not-a-number"),
        pytest.param({"CONTENT_LENGTH": "-1"}, id="negative"),
        pytest.param({"CONTENT_LENGTH": "1e3"}, id="exponent"),
        pytest.param({"CONTENT_LENGTH": "0x10"}, id="hex"),
        pytest.param({"CONTENT_LENGTH": "5, 5"}, id="repeated"),
        pytest.param({"CONTENT_LENGTH": "+5"}, id="plus"),
        pytest.param({"CONTENT_LENGTH": "\u0665"}, id="arabic-digit"),
        pytest.param(
            {"CONTENT_LENGTH": "2", "HTTP_TRANSFER_ENCODING": "chunked"},
            id="length-and-chunked",
        ),
        pytest.param(
            {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": False},
            id="chunked-not-decoded",
        ),
    ],
)
@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", None])
def test_framing_errors_are_400_before_anything(
    make_app: AppFactory, environ: dict[str, t.Any], authorization: str | None
) -> None:
    # Werkzeug reads a Content-Length it cannot parse as 0: the body was
    # ignored and the shutdown started (on Werkzeug's server and uWSGI).
    app, stops = _app(make_app)
    headers = {} if authorization is None else {"Authorization": authorization}
    rv = app.test_client().post(
        "/shutdown",
        headers=headers,
        data=b"{}   ",
        content_type="application/json",
        environ_overrides=environ,
    )
    assert rv.status_code == 400
    assert rv.json["error"] == "bad_framing"
    assert stops == [] and app.extensions["shutdown"].coordinator.record is None
    assert len(app.extensions["shutdown"].guard.lockout) == 0


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="plain"),
        pytest.param({"CONTENT_LENGTH": " 5 "}, id="spaces"),
        pytest.param({"CONTENT_LENGTH": ""}, id="empty-is-absent"),
    ],
)
def test_good_framing_is_accepted(
    make_app: AppFactory, environ: dict[str, t.Any]
) -> None:
    app, stops = _app(make_app)
    rv = app.test_client().post(
        "/shutdown",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data=b"{}   ",
        content_type="application/json",
        environ_overrides=environ,
    )
    assert rv.status_code == 202, rv.json
    assert len(stops) == 1
