"""URLs are right everywhere: under a prefix (DispatcherMiddleware,
ProxyFix's X-Forwarded-Prefix), with another SHUTDOWN_PATH, and for paths
that only look like an endpoint's. A route at an endpoint's path is an
error at init_app.
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import typing as t
from pathlib import Path

import pytest
import requests
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

from ._proc import Proc
from ._proc import ROOT
from ._servers import APP_MODULE
from ._servers import tool
from ._servers import wait_ready
from .conftest import AppFactory
from .conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def serve_wsgi() -> cabc.Iterator[cabc.Callable[[t.Any], ServerThread]]:
    """Serve any WSGI app on a ServerThread (a Flask app stops gracefully
    through its own extension; a dispatcher is stopped when the test ends).
    """
    started: list[ServerThread] = []

    def start(app: t.Any) -> ServerThread:
        server = ServerThread(app)
        server.start()
        started.append(server)
        return server

    yield start

    for server in started:
        server.stop_serving()
        server.join(5)


def test_dispatcher_prefix(
    make_app: AppFactory, serve_wsgi: cabc.Callable[[t.Any], ServerThread]
) -> None:
    app, _ = make_app(SHUTDOWN_DRAIN_DELAY=0.5)
    root = Flask("root")
    server = serve_wsgi(DispatcherMiddleware(root, {"/inventory": app}))

    rv = requests.post(f"{server.url}/inventory/shutdown", headers=AUTH, timeout=5)
    assert rv.status_code == 202
    assert rv.headers["Location"] == "/inventory/shutdown/status"
    assert rv.json()["status_url"] == "/inventory/shutdown/status"

    # The URL it gives is the one that answers.
    status = requests.get(
        f"{server.url}{rv.headers['Location']}", headers=AUTH, timeout=5
    )
    assert status.status_code == 200
    assert status.json()["shutdown_id"] == rv.json()["shutdown_id"]
    assert app.extensions["shutdown"].coordinator.wait(10)


def test_proxy_fix_prefix(make_app: AppFactory) -> None:
    app, _ = make_app()
    app.wsgi_app = ProxyFix(app.wsgi_app, x_prefix=1)  # type: ignore[method-assign]
    rv = app.test_client().post(
        "/shutdown", headers={**AUTH, "X-Forwarded-Prefix": "/inventory"}
    )
    assert rv.status_code == 202
    assert rv.headers["Location"] == "/inventory/shutdown/status"
    assert rv.json["status_url"] == "/inventory/shutdown/status"


def test_audit_path_includes_the_prefix(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app()
    caplog.set_level(logging.INFO, "flask_shutdown.audit")
    app.test_client().get(
        "/shutdown/status", headers=AUTH, environ_overrides={"SCRIPT_NAME": "/app"}
    )
    assert "GET /app/shutdown/status from 127.0.0.1" in caplog.text


def test_status_and_ready_follow_the_shutdown_path(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_PATH="/admin/shutdown")
    client = app.test_client()
    assert client.get("/admin/shutdown/ready").status_code == 200
    assert client.get("/admin/shutdown/status", headers=AUTH).status_code == 200
    assert client.get("/shutdown/ready").status_code == 404
    assert client.get("/shutdown/status", headers=AUTH).status_code == 404
    # app.config shows the paths in force.
    assert app.config["SHUTDOWN_READY_PATH"] == "/admin/shutdown/ready"
    assert app.config["SHUTDOWN_STATUS_PATH"] == "/admin/shutdown/status"

    rv = client.post("/admin/shutdown", headers=AUTH)
    assert rv.headers["Location"] == "/admin/shutdown/status"


def test_status_and_ready_set_on_their_own(make_app: AppFactory) -> None:
    app, _ = make_app(
        SHUTDOWN_PATH="/admin/stop",
        SHUTDOWN_STATUS_PATH="/ops/shutdown-status",
        SHUTDOWN_READY_PATH="/healthz",
    )
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/ops/shutdown-status", headers=AUTH).status_code == 200
    assert client.get("/admin/stop/status", headers=AUTH).status_code == 404
    rv = client.post("/admin/stop", headers=AUTH)
    assert rv.headers["Location"] == "/ops/shutdown-status"


def test_status_path_as_an_argument() -> None:
    app = Flask(__name__)
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]
    Shutdown(app, status_path="/stop-status", ready_path=False)
    client = app.test_client()
    assert client.get("/stop-status", headers=AUTH).status_code == 200
    assert client.get("/shutdown/ready").status_code == 404


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"SHUTDOWN_READY_PATH": "/shutdown"},
            "'SHUTDOWN_PATH' and 'SHUTDOWN_READY_PATH' are both '/shutdown'",
        ),
        (
            {"SHUTDOWN_STATUS_PATH": "/x", "SHUTDOWN_READY_PATH": "/x/"},
            "'SHUTDOWN_STATUS_PATH' and 'SHUTDOWN_READY_PATH' are both '/x'",
        ),
        ({"SHUTDOWN_STATUS_PATH": False}, "'SHUTDOWN_STATUS_PATH' must be a URL path"),
    ],
)
def test_paths_must_differ(
    make_app: AppFactory, config: dict[str, t.Any], message: str
) -> None:
    with pytest.raises(RuntimeError, match=message):
        make_app(**config)


@pytest.mark.parametrize(
    ("rule", "methods", "names"),
    [
        ("/shutdown", ["POST"], "Flask-Shutdown's shutdown endpoint (SHUTDOWN_PATH)"),
        ("/shutdown/status", ["GET"], "status endpoint (SHUTDOWN_STATUS_PATH)"),
        ("/shutdown/ready/", ["GET"], "readiness endpoint (SHUTDOWN_READY_PATH)"),
    ],
)
def test_route_collision_is_an_error(rule: str, methods: list[str], names: str) -> None:
    app = Flask(__name__)
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]
    app.add_url_rule(rule, "mine", lambda: "mine", methods=methods)

    with pytest.raises(RuntimeError) as info:
        Shutdown(app)

    message = str(info.value)
    # Both are named: the app's route and the extension's endpoint.
    assert f"route {rule!r} (endpoint 'mine')" in message
    assert names in message
    assert "shutdown" not in app.extensions


def test_other_routes_do_not_collide() -> None:
    app = Flask(__name__)
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]
    # A catch-all does not shadow the endpoints: static rules win.
    app.add_url_rule("/<path:anything>", "catch_all", lambda anything: anything)
    app.add_url_rule("/shutdown-report", "report", lambda: "report")
    Shutdown(app)
    assert app.test_client().post("/shutdown", headers=AUTH).status_code == 202


@pytest.mark.parametrize("path", ["shutdown", "shutdown/status", "shutdown/ready"])
def test_path_without_leading_slash_names_no_endpoint(
    make_app: AppFactory, path: str
) -> None:
    """gunicorn with SCRIPT_NAME=/app turns /appshutdown into PATH_INFO
    "shutdown", which Werkzeug's router would match as /shutdown.
    """
    app, _ = make_app()
    client = app.test_client()
    rv = client.open(
        "/",
        method="GET" if "/" in path else "POST",
        headers=AUTH,
        environ_overrides={"PATH_INFO": path, "SCRIPT_NAME": "/app"},
    )
    assert rv.status_code == 404
    assert rv.json == {
        "error": "not_found",
        "message": "Nothing is served at this path.",
    }
    assert app.extensions["shutdown"].coordinator.record is None


def test_gunicorn_script_name(tmp_path: Path) -> None:
    """gunicorn with SCRIPT_NAME=/app: /app/shutdown is the endpoint and
    its answer points under /app; /appshutdown is nothing.
    """
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [tool("gunicorn"), "-w", "2", "-b", "127.0.0.1:0", "--no-control-socket"]
    env = {"HOOK_LOG": str(hook_log), "SCRIPT_NAME": "/app"}

    with Proc(
        [*args, f"{APP_MODULE}:app"], tmp_path / "log", env=env, cwd=ROOT
    ) as proc:
        url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
        wait_ready(proc, f"{url}/app/shutdown/ready")

        for path in ("/appshutdown", "/appshutdown/status", "/appshutdown/ready"):
            method = "POST" if path == "/appshutdown" else "GET"
            rv = requests.request(method, url + path, headers=AUTH, timeout=10)
            assert rv.status_code == 404, (path, rv.text)
            assert rv.json()["error"] == "not_found"

        rv = requests.post(f"{url}/app/shutdown", headers=AUTH, timeout=10)
        assert rv.status_code == 202
        assert rv.headers["Location"] == "/app/shutdown/status"
        assert rv.json()["status_url"] == "/app/shutdown/status"
        assert proc.wait_exit(60) == 0
