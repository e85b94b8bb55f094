"""The network allowlist, SHUTDOWN_ALLOWED_NETWORKS: loopback only by
default, checked before any credential.
"""

from __future__ import annotations

import typing as t

import pytest
import requests
from werkzeug.middleware.proxy_fix import ProxyFix

import flask_shutdown.auth

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _status(app: t.Any, remote_addr: str, **kwargs: t.Any) -> t.Any:
    return app.test_client().get(
        "/shutdown/status", environ_base={"REMOTE_ADDR": remote_addr}, **kwargs
    )


@pytest.mark.parametrize(
    "remote_addr",
    ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"],
)
def test_loopback_allowed_by_default(make_app: AppFactory, remote_addr: str) -> None:
    app, _ = make_app()
    assert app.config["SHUTDOWN_ALLOWED_NETWORKS"] == ["127.0.0.0/8", "::1/128"]
    assert _status(app, remote_addr, headers=BEARER).status_code == 200


@pytest.mark.parametrize(
    "remote_addr",
    ["10.0.0.5", "192.168.1.1", "203.0.113.9", "::2", "fe80::1%eth0", "", "unknown"],
)
def test_other_addresses_refused_before_credentials(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, remote_addr: str
) -> None:
    app, _ = make_app()
    hashed = []
    real = flask_shutdown.auth.check_password_hash
    monkeypatch.setattr(
        flask_shutdown.auth,
        "check_password_hash",
        lambda *a: hashed.append(1) or real(*a),
    )
    client = app.test_client()

    for kwargs in [{"headers": BEARER}, {"auth": (USER, PASSWORD)}, {}]:
        rv = client.post(
            "/shutdown", environ_base={"REMOTE_ADDR": remote_addr}, **kwargs
        )
        assert rv.status_code == 403
        assert rv.json == {
            "error": "forbidden_network",
            "message": rv.json["message"],
        }
        assert "SHUTDOWN_ALLOWED_NETWORKS" in rv.json["message"]
        # Refused before any credential is read: no WWW-Authenticate
        # challenge, no password hashed, nothing counted by the lockout.
        assert "WWW-Authenticate" not in rv.headers

    assert hashed == []
    assert len(app.extensions["shutdown"].guard.lockout) == 0
    assert app.extensions["shutdown"].coordinator.record is None


def test_configured_networks_replace_the_default(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_ALLOWED_NETWORKS=["10.0.0.0/8", "2001:db8::/32"])
    assert _status(app, "10.20.30.40", headers=BEARER).status_code == 200
    assert _status(app, "2001:db8::7", headers=BEARER).status_code == 200
    assert _status(app, "127.0.0.1", headers=BEARER).status_code == 403
    assert _status(app, "11.0.0.1", headers=BEARER).status_code == 403


def test_single_string_and_bad_network(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_ALLOWED_NETWORKS="10.0.0.0/8")
    assert _status(app, "10.0.0.1", headers=BEARER).status_code == 200

    with pytest.raises(RuntimeError, match="SHUTDOWN_ALLOWED_NETWORKS"):
        make_app(SHUTDOWN_ALLOWED_NETWORKS=["not-a-network"])


def test_real_server_refuses_its_own_loopback_when_not_allowed(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, _ = make_app(SHUTDOWN_ALLOWED_NETWORKS=["10.0.0.0/8"])
    server = serve(app)
    rv = requests.post(f"{server.url}/shutdown", headers=BEARER, timeout=5)
    assert rv.status_code == 403
    assert rv.json()["error"] == "forbidden_network"
    assert app.extensions["shutdown"].coordinator.record is None
    assert requests.get(server.url, timeout=5).text == "ok"


def test_forwarded_for_ignored_without_proxy_fix(make_app: AppFactory) -> None:
    # A client outside the allowlist cannot claim to be local.
    app, _ = make_app()
    rv = _status(app, "203.0.113.9", headers={**BEARER, "X-Forwarded-For": "127.0.0.1"})
    assert rv.status_code == 403


def test_proxy_fix_applies_the_allowlist_to_the_real_client(
    make_app: AppFactory,
) -> None:
    # A trusted proxy on loopback forwards a client from outside: with
    # ProxyFix the allowlist sees the client, not the proxy.
    app, _ = make_app()
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    outside = _status(
        app, "127.0.0.1", headers={**BEARER, "X-Forwarded-For": "203.0.113.9"}
    )
    assert outside.status_code == 403
    inside = _status(
        app, "127.0.0.1", headers={**BEARER, "X-Forwarded-For": "127.0.0.1"}
    )
    assert inside.status_code == 200
    # x_for=1 trusts only the last hop: a client's own forged entry in
    # front of it changes nothing.
    forged = _status(
        app,
        "127.0.0.1",
        headers={**BEARER, "X-Forwarded-For": "127.0.0.1, 203.0.113.9"},
    )
    assert forged.status_code == 403
