"""Cross-site requests: a browser on another site's page is refused even
with valid cached credentials, and credentials come only from the
Authorization header.
"""

from __future__ import annotations

import base64
import typing as t

import pytest
import requests

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _post(app: t.Any, headers: dict[str, str], **kwargs: t.Any) -> t.Any:
    return app.test_client().post(
        "/shutdown", headers={"Authorization": BASIC, **headers}, **kwargs
    )


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "https://evil.example"}, id="origin-other-site"),
        pytest.param(
            {"Origin": "http://localhost.evil.example"}, id="origin-lookalike"
        ),
        pytest.param({"Origin": "https://localhost"}, id="origin-other-scheme"),
        pytest.param({"Origin": "http://localhost:8080"}, id="origin-other-port"),
        pytest.param({"Origin": "null"}, id="origin-null"),
        pytest.param({"Origin": ""}, id="origin-empty"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="fetch-cross-site"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="fetch-same-site"),
        pytest.param({"Sec-Fetch-Site": "CROSS-SITE"}, id="fetch-upper"),
        pytest.param({"Sec-Fetch-Site": "whatever"}, id="fetch-unknown"),
        pytest.param(
            {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},
            id="origin-same-but-fetch-cross-site",
        ),
        pytest.param(
            {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
            id="origin-wins",
        ),
    ],
)
def test_cross_site_refused_with_valid_credentials(
    make_app: AppFactory, headers: dict[str, str]
) -> None:
    app, _ = make_app()
    rv = _post(app, headers)
    assert rv.status_code == 403
    assert rv.json["error"] == "cross_site"
    assert "SHUTDOWN_TRUSTED_ORIGINS" in rv.json["message"]
    assert app.extensions["shutdown"].coordinator.record is None
    # Refused before credentials are checked: nothing counted.
    assert len(app.extensions["shutdown"].guard.lockout) == 0


def test_cross_site_form_post_from_a_browser(
    make_app: AppFactory, serve: t.Any
) -> None:
    # What a hostile page's auto-submitted form looks like on the wire.
    stops: list[t.Any] = []
    app, _ = make_app(SHUTDOWN_STRATEGY=stops.append)
    server = serve(app)
    rv = requests.post(
        f"{server.url}/shutdown",
        auth=(USER, PASSWORD),
        data={"reason": "pwned"},
        headers={
            "Origin": "https://evil.example",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "navigate",
        },
        timeout=5,
    )
    assert rv.status_code == 403
    assert rv.json()["error"] == "cross_site"
    assert app.extensions["shutdown"].coordinator.record is None
    assert stops == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-browser-headers"),
        pytest.param({"Sec-Fetch-Site": "same-origin"}, id="fetch-same-origin"),
        pytest.param({"Sec-Fetch-Site": "none"}, id="fetch-none"),
        pytest.param({"Origin": "http://localhost"}, id="origin-same"),
        pytest.param({"Origin": "http://localhost:80"}, id="origin-same-default-port"),
        pytest.param({"Origin": "HTTP://LOCALHOST"}, id="origin-same-case"),
        pytest.param(
            {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
            id="origin-and-fetch-same",
        ),
    ],
)
def test_same_origin_and_non_browser_allowed(
    make_app: AppFactory, headers: dict[str, str]
) -> None:
    stops: list[t.Any] = []
    app, _ = make_app(SHUTDOWN_STRATEGY=stops.append)
    assert _post(app, headers).status_code == 202


def test_same_origin_on_a_real_server(make_app: AppFactory, serve: t.Any) -> None:
    stops: list[t.Any] = []
    app, _ = make_app(SHUTDOWN_STRATEGY=stops.append)
    server = serve(app)
    rv = requests.get(
        f"{server.url}/shutdown/status",
        auth=(USER, PASSWORD),
        headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
        timeout=5,
    )
    assert rv.status_code == 200


def test_trusted_origins(make_app: AppFactory) -> None:
    stops: list[t.Any] = []
    app, _ = make_app(
        SHUTDOWN_TRUSTED_ORIGINS=["https://admin.example.com"],
        SHUTDOWN_STRATEGY=stops.append,
    )
    trusted = {
        "Origin": "https://admin.example.com:443",
        "Sec-Fetch-Site": "cross-site",
    }
    assert _post(app, {"Origin": "https://evil.example"}).status_code == 403
    assert _post(app, {"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert _post(app, trusted).status_code == 202

    with pytest.raises(RuntimeError, match="SHUTDOWN_TRUSTED_ORIGINS"):
        make_app(SHUTDOWN_TRUSTED_ORIGINS=["admin.example.com"])


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        pytest.param(f"/shutdown?token={TOKEN}", {}, id="query-token"),
        pytest.param(f"/shutdown?access_token={TOKEN}", {}, id="query-access-token"),
        pytest.param(
            f"/shutdown?Authorization=Bearer%20{TOKEN}", {}, id="query-authorization"
        ),
        pytest.param(
            f"/shutdown?username={USER}&password={PASSWORD}", {}, id="query-basic"
        ),
        pytest.param("/shutdown", {"data": {"token": TOKEN}}, id="form-token"),
        pytest.param(
            "/shutdown",
            {"data": {"username": USER, "password": PASSWORD}},
            id="form-basic",
        ),
        pytest.param(
            "/shutdown", {"json": {"token": TOKEN, "reason": "x"}}, id="json-token"
        ),
        pytest.param(
            "/shutdown", {"headers": {"X-Shutdown-Token": TOKEN}}, id="other-header"
        ),
        pytest.param(
            "/shutdown",
            {"headers": {"Authorization": TOKEN}},
            id="header-without-scheme",
        ),
    ],
)
def test_credentials_only_from_authorization_header(
    make_app: AppFactory, path: str, kwargs: dict[str, t.Any]
) -> None:
    app, _ = make_app()
    rv = app.test_client().post(path, **kwargs)
    assert rv.status_code == 401
    assert rv.json["error"] == "unauthorized"
    assert "WWW-Authenticate" in rv.headers
    assert app.extensions["shutdown"].coordinator.record is None


@pytest.mark.parametrize("name", ["token", "session", "auth", "Authorization"])
def test_credentials_never_from_a_cookie(make_app: AppFactory, name: str) -> None:
    app, _ = make_app()
    client = app.test_client()
    client.set_cookie(name, TOKEN)
    client.set_cookie("basic", f"{USER}:{PASSWORD}")
    rv = client.post("/shutdown")
    assert rv.status_code == 401
    assert app.extensions["shutdown"].coordinator.record is None
