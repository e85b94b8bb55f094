"""Serve an app from ``if __name__ == "__main__":`` with signals wired to
the graceful shutdown.

.. code-block:: python

    if __name__ == "__main__":
        raise SystemExit(serve(app, port=8000))

SIGTERM and SIGINT (Ctrl-C) run the same sequence as ``POST /shutdown``;
a second SIGINT forces a fast stop. The return value is the exit code
(:class:`~flask_shutdown.ExitCode`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import typing as t

from . import systemd
from .adapters.thread import ThreadAdapter
from .record import ExitCode
from .server import ServerThread
from .signals import hooks_done
from .signals import shutdown_requested
from .signals import shutdown_stopped
from .state import find_state

if t.TYPE_CHECKING:
    import types

    from _typeshed.wsgi import WSGIApplication

    from .record import ShutdownRecord


#: How long serve() waits, after the stop, for responses still being
#: written (status reads that arrived during the stop).
_LAST_RESPONSES_TIMEOUT = 2.0


def serve(
    app: WSGIApplication,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    threaded: bool = True,
    handle_signals: bool = True,
) -> int:
    """Serve ``app`` on a :class:`~flask_shutdown.ServerThread` until it is
    shut down, and return the process exit code.

    Prints ``Serving on URL`` to standard error once the socket listens.
    Signal handlers can only be installed from the main thread; pass
    ``handle_signals=False`` elsewhere.

    :param app: The app; with :class:`~flask_shutdown.Shutdown` registered
        it gets the graceful sequence, otherwise it is just stopped.
    :param host: The address to bind.
    :param port: The port to bind; ``0`` picks a free one.
    :param threaded: Handle each request in its own thread.
    :param handle_signals: Install SIGTERM and SIGINT handlers.
    :returns: ``0`` after a clean shutdown; see
        :class:`~flask_shutdown.ExitCode` for the others.
    """
    server = ServerThread(app, host, port, threaded=threaded)
    state = find_state(app)
    interrupts = 0

    def begin(signum: int) -> None:
        name = signal.Signals(signum).name

        if state is None:
            server.stop_serving()
            return

        state.trigger(
            None,
            reason=f"received {name}",
            requested_by=f"signal:{name}",
            source="signal",
            adapter=ThreadAdapter(server),
        )

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        nonlocal interrupts

        if signum == signal.SIGINT:
            interrupts += 1

            if interrupts > 1 and state is not None:
                threading.Thread(target=state.coordinator.force, daemon=True).start()
                return

        # The sequence takes locks the interrupted main thread may hold;
        # start it from a thread of its own rather than from the handler.
        threading.Thread(target=begin, args=(signum,), daemon=True).start()

    previous = {}

    if handle_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)

    # Under systemd (Type=notify): the phases, as systemctl status shows
    # them. Receivers are held here, so they live as long as serve().
    receivers = _systemd_receivers(app) if state is not None else []

    try:
        try:
            server.start()
            print(f"Serving on {server.url}", file=sys.stderr, flush=True)
            systemd.notify(
                "READY=1", f"STATUS=Serving on {server.url}", f"MAINPID={os.getpid()}"
            )
            server.join()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        if state is None or state.coordinator.record is None:
            return int(ExitCode.OK)

        # The loop may end a moment before the sequence records the stop
        # (and tells systemd).
        state.coordinator.wait()
        # Status and readiness requests are still answered while the
        # server stops; give their threads a moment to finish writing
        # before the process exits and cuts them off.
        state.in_flight.wait_idle(_LAST_RESPONSES_TIMEOUT)
        return int(state.coordinator.record.exit_code)
    finally:
        for signal_, receiver in receivers:
            signal_.disconnect(receiver)


def _systemd_receivers(app: t.Any) -> list[tuple[t.Any, t.Callable[..., None]]]:
    if not os.environ.get(systemd.SOCKET_ENV):
        return []

    def requested(sender: t.Any, record: ShutdownRecord) -> None:
        systemd.notify(
            "STOPPING=1",
            f"STATUS=Draining: shutdown {record.id} requested by {record.requested_by}",
        )

    def hooks(sender: t.Any, record: ShutdownRecord) -> None:
        failed = sum(1 for r in record.hooks if not r.ok)
        systemd.notify(f"STATUS=Hooks done: {len(record.hooks)} ran, {failed} failed")

    def stopped(sender: t.Any, record: ShutdownRecord) -> None:
        systemd.notify(f"STATUS=Stopped with exit code {int(record.exit_code)}")

    rv = [
        (shutdown_requested, requested),
        (hooks_done, hooks),
        (shutdown_stopped, stopped),
    ]

    for signal_, receiver in rv:
        signal_.connect(receiver, sender=app)

    return rv
