"""Concurrent and repeated shutdown requests produce one shutdown."""

from __future__ import annotations

import concurrent.futures
import threading
import typing as t

import requests

from flask_shutdown import hooks_done
from flask_shutdown import shutdown_requested
from flask_shutdown import shutdown_stopped

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER


def test_20_concurrent_posts_one_shutdown(make_app: AppFactory, serve: t.Any) -> None:
    # The drain delay keeps the server up long enough for every request of
    # the burst to arrive, whatever the scheduling. All ten passwords may
    # be hashed at once.
    app, shutdown = make_app(
        SHUTDOWN_DRAIN_DELAY=1.0, SHUTDOWN_MAX_CONCURRENT_HASHES=10
    )
    runs = []
    shutdown.teardown(lambda: runs.append("a"))
    shutdown.teardown(lambda: runs.append("b"))
    server = serve(app)
    barrier = threading.Barrier(20, timeout=10)

    def post(i: int) -> requests.Response:
        barrier.wait()

        if i % 2:
            return requests.post(
                f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10
            )

        return requests.post(
            f"{server.url}/shutdown",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))

    assert [r.status_code for r in responses] == [202] * 20
    assert len({r.json()["shutdown_id"] for r in responses}) == 1
    server.join(10)
    assert not server.is_alive()
    assert runs == ["a", "b"]


def test_signals_sent_once_in_order(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app()
    seen: list[tuple[str, str]] = []

    def recorder(name: str) -> t.Callable[..., None]:
        def receive(sender: t.Any, record: t.Any) -> None:
            assert sender is app
            seen.append((name, record.id))

        return receive

    receivers = [
        (shutdown_requested, recorder("requested")),
        (hooks_done, recorder("hooks_done")),
        (shutdown_stopped, recorder("stopped")),
    ]

    for signal, receiver in receivers:
        signal.connect(receiver, app)

    try:
        server = serve(app)
        requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10)
        server.join(10)
        # The loop has ended; the sequence finishes right after.
        assert app.extensions["shutdown"].coordinator.wait(10)
        # Asking again after the stop sends nothing more.
        app.extensions["shutdown"].extension.trigger("again", app=app)
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver, app)

    assert [name for name, _ in seen] == ["requested", "hooks_done", "stopped"]
    assert len({shutdown_id for _, shutdown_id in seen}) == 1


def test_trigger_from_code_is_idempotent(make_app: AppFactory, serve: t.Any) -> None:
    app, shutdown = make_app()
    runs = []
    shutdown.teardown(lambda: runs.append(1))
    server = serve(app)
    first = shutdown.trigger("maintenance", app=app)
    second = shutdown.trigger("again", app=app)
    assert first is second
    assert first.reason == "maintenance"
    server.join(10)
    assert not server.is_alive()
    assert runs == [1]
    assert first.source == "code"


def test_failing_signal_receiver_does_not_break_the_shutdown(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, _ = make_app()

    def broken(sender: t.Any, record: t.Any) -> None:
        raise RuntimeError("metrics backend down")

    shutdown_requested.connect(broken, app)
    shutdown_stopped.connect(broken, app)

    try:
        server = serve(app)
        rv = requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10)
        assert rv.status_code == 202
        assert app.extensions["shutdown"].coordinator.wait(10)
        server.join(10)
        assert not server.is_alive()
    finally:
        shutdown_requested.disconnect(broken, app)
        shutdown_stopped.disconnect(broken, app)
