"""Teardown hooks: order, exactly once, isolation of failures, timeouts."""

from __future__ import annotations

import threading
import typing as t

import pytest
import requests
from flask import current_app

from flask_shutdown import ExitCode

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import USER


def test_hooks_run_in_order_once_in_app_context(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, shutdown = make_app()
    calls = []

    @shutdown.teardown
    def close_db() -> None:
        calls.append(("close_db", current_app.name))

    @shutdown.teardown
    def flush_cache() -> None:
        calls.append(("flush_cache", current_app.name))

    server = serve(app)
    requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10)
    server.join(10)
    assert calls == [("close_db", app.name), ("flush_cache", app.name)]
    # A later trigger does not run them again.
    shutdown.trigger("again", app=app)
    assert len(calls) == 2


def test_failing_and_hanging_hooks_do_not_stop_the_rest(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, shutdown = make_app(SHUTDOWN_HOOK_TIMEOUT=5)
    calls = []
    release = threading.Event()

    @shutdown.teardown
    def raises() -> None:
        calls.append("raises")
        raise ValueError("database already closed")

    @shutdown.teardown(timeout=0.2)
    def hangs() -> None:
        calls.append("hangs")
        release.wait(20)

    @shutdown.teardown
    def last() -> None:
        calls.append("last")

    server = serve(app)

    try:
        rv = requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10)
        assert rv.status_code == 202
        server.join(10)
        assert not server.is_alive()
        # The loop ends inside the adapter's stop, a moment before the
        # sequence records the stop and its exit code.
        assert app.extensions["shutdown"].coordinator.wait(10)
    finally:
        release.set()

    assert calls == ["raises", "hangs", "last"]
    status = app.extensions["shutdown"].status()
    assert [(h["name"].rsplit(".", 1)[-1], h["status"]) for h in status["hooks"]] == [
        ("raises", "error"),
        ("hangs", "timeout"),
        ("last", "ok"),
    ]
    assert "ValueError: database already closed" in status["hooks"][0]["error"]
    assert status["exit_code"] == ExitCode.HOOK_FAILED


def test_hooks_run_inline_when_threads_are_refused(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.12+ refuses new threads at interpreter exit, which is when
    # atexit runs the hooks in server workers: the hook must still run.
    app, shutdown = make_app()
    calls = []
    shutdown.teardown(lambda: calls.append(threading.current_thread()))

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    results = app.extensions["shutdown"].coordinator.run_hooks_once()
    assert [r.status for r in results] == ["ok"]
    assert calls == [threading.current_thread()]
