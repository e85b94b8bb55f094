"""The pieces of the graceful stop signal that need no real server: which
app a signal reaches, and how uWSGI's routing is read from its options.
The servers themselves are in test_server_waitress_sigterm.py and
test_server_uwsgi_sigterm.py.
"""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import textwrap
import threading
import types
import typing as t

import pytest
from flask import Flask

from flask_shutdown import Shutdown
from flask_shutdown.adapters import _stop_signal
from flask_shutdown.adapters.base import ServerAdapter
from flask_shutdown.adapters.uwsgi import routed_signals
from flask_shutdown.adapters.waitress import graceful_sigterm

from .conftest import TOKEN


def _app(name: str) -> Flask:
    app = Flask(name)
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]
    Shutdown(app)
    return app


def test_the_served_app_is_found_and_a_wrapped_one_reaches_every_app() -> None:
    first, second = _app("first"), _app("second")
    state = first.extensions["shutdown"]

    assert _stop_signal.receivers_for(first) == [state.stop_signal]
    everyone = _stop_signal.receivers_for(object())
    assert state.stop_signal in everyone
    assert second.extensions["shutdown"].stop_signal in everyone


def test_receivers_go_with_their_app() -> None:
    app = _app("gone")
    key = id(app)
    del app
    gc.collect()
    assert all(id(k) != key for k in _stop_signal._receivers.keys())


def test_the_receiver_runs_the_sequence_and_forces() -> None:
    app = _app("signalled")
    state = app.extensions["shutdown"]
    stopped = []

    class Adapter(ServerAdapter):
        name = "fake"

        def stop(self, context: t.Any) -> None:
            stopped.append(context.record.forced)

    assert state.stop_signal("SIGTERM", Adapter(), False) is True
    assert state.coordinator.wait(10)
    record = state.coordinator.record
    assert record.requested_by == "signal:SIGTERM"
    assert record.source == "signal"
    assert stopped == [False]
    # A later signal joins the shutdown under way.
    assert state.stop_signal("SIGTERM", Adapter(), False) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        (b"unix_signal:15 uwsgi_route_signal", [15]),
        ([b"print:hello", b"unix_signal:15   uwsgi_route_signal"], [15]),
        (b"unix_signal:15 gracefully_kill_them_all", []),
        ("unix_signal:2 uwsgi_route_signal", [2]),
    ],
)
def test_routed_signals(value: object, expected: list[int]) -> None:
    opt = {} if value is None else {"hook-master-start": value}
    assert routed_signals(types.SimpleNamespace(opt=opt)) == expected


def test_graceful_sigterm_needs_the_main_thread() -> None:
    errors = []

    def call() -> None:
        try:
            graceful_sigterm()
        except RuntimeError as e:
            errors.append(str(e))

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(10)
    assert errors and "main thread" in errors[0]


def test_graceful_sigterm_hands_other_servers_signal_on() -> None:
    """Under another server (here: none), the handler that was there
    before gets the signal, and without one the process ends by it.
    """
    code = textwrap.dedent(
        """
        import os, signal
        from flask_shutdown.adapters.waitress import graceful_sigterm
        got = []
        signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
        graceful_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)
        print("previous handler ran" if got == [signal.SIGTERM] else got)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        graceful_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)
        print("not reached")
        """
    )
    rv = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert rv.stdout.splitlines() == ["previous handler ran"], rv.stderr
    assert rv.returncode == -signal.SIGTERM
