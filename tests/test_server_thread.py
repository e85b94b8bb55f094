"""ServerThread: a make_server server held by a thread, stopped at once
and never deadlocked.
"""

from __future__ import annotations

import socket
import typing as t

import pytest
import requests
from flask import Flask

from flask_shutdown import ServerThread

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER


def test_port_known_before_start_and_listening() -> None:
    app = Flask(__name__)
    app.get("/")(lambda: "plain")
    server = ServerThread(app, port=0)
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    # The socket listens before start(): no bind-then-release race.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass

    server.start()
    assert requests.get(server.url, timeout=5).text == "plain"
    # Without the extension, shutdown() just stops the server.
    server.shutdown()
    server.join(5)
    assert not server.is_alive()
    assert server.stopped


def test_port_in_use_raises_oserror() -> None:
    app = Flask(__name__)

    with ServerThread(app, port=0) as first:
        with pytest.raises(OSError, match="Could not bind"):
            ServerThread(app, port=first.port)


def test_graceful_shutdown_from_code_runs_hooks(make_app: AppFactory) -> None:
    app, shutdown = make_app()
    ran = []
    shutdown.teardown(lambda: ran.append("hook"))

    with ServerThread(app) as server:
        assert requests.get(server.url, timeout=5).text == "ok"

    assert server.stopped
    assert ran == ["hook"]
    assert app.extensions["shutdown"].status()["source"] == "code"


@pytest.mark.parametrize("how", ["bearer", "basic"])
def test_post_on_non_threaded_server_does_not_deadlock(
    make_app: AppFactory, serve: t.Any, how: str
) -> None:
    app, _ = make_app()
    server = serve(app, threaded=False)
    kwargs: dict[str, t.Any] = (
        {"headers": {"Authorization": f"Bearer {TOKEN}"}}
        if how == "bearer"
        else {"auth": (USER, PASSWORD)}
    )
    rv = requests.post(f"{server.url}/shutdown", timeout=10, **kwargs)
    assert rv.status_code == 202
    server.join(10)
    assert not server.is_alive()


def test_trigger_inside_a_request_on_non_threaded_server(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, shutdown = make_app()

    @app.post("/admin/stop")
    def stop() -> str:
        shutdown.trigger("from a view")
        return "stopping"

    server = serve(app, threaded=False)
    rv = requests.post(f"{server.url}/admin/stop", timeout=10)
    # The response is complete although the stop was asked for inside it.
    assert rv.text == "stopping"
    server.join(10)
    assert not server.is_alive()


def test_same_app_served_again_after_a_shutdown(make_app: AppFactory) -> None:
    app, shutdown = make_app()
    runs = []
    shutdown.teardown(lambda: runs.append(1))

    for _ in range(2):
        with ServerThread(app) as server:
            rv = requests.post(
                f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10
            )
            assert rv.status_code == 202
            server.join(10)
            assert not server.is_alive()

    assert runs == [1, 1]


def test_stop_serving_before_start_closes_the_socket() -> None:
    server = ServerThread(Flask(__name__))
    port = server.port
    server.stop_serving()
    assert server.stopped

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_ipv6_url() -> None:
    if not socket.has_ipv6:
        pytest.fail("IPv6 loopback is needed for this test")

    try:
        server = ServerThread(Flask(__name__), host="::1")
    except OSError as e:
        pytest.fail(f"could not bind ::1: {e}")

    assert server.url == f"http://[::1]:{server.port}"
    server.stop_serving()
