"""waitress: close every socket from inside its main loop, once every
response has been written out.

waitress has no supported way to stop: ``serve()`` runs an asyncore-style
loop until interrupted, and SIGTERM simply kills it. Its loop, though,
returns by itself once its socket map is empty, and its *trigger* runs a
function inside the loop's thread. The stop uses both.

The catch is that the app's response is written by two threads: the
task thread passes the body to the channel and sends what the socket
takes at once, and the main loop sends the rest and closes the
connection. Stopping the loop (even with SIGINT, waitress's own way)
right after the app's iterator has ended cuts such a response short. So
the stop waits, bounded by ``SHUTDOWN_DRAIN_TIMEOUT``, until no channel
has a request queued or running and no byte is left to send, then asks
the main loop to close everything, where the same check is made again
without racing the loop. ``serve()`` returns normally, and the process
then ends with the shutdown's exit code (see :mod:`._exit`):
``waitress-serve`` itself would exit 0.

SIGTERM, which Kubernetes, systemd and ``docker stop`` send, ends waitress
at once: it installs no handler for it. :func:`graceful_sigterm` installs
one that runs the same sequence as ``POST /shutdown``. It is opt-in, as
the app cannot tell from its import that waitress will serve it, and a
signal handler replaces whatever the process had.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import typing as t

from . import _stop_signal
from ._exit import exit_with
from .base import ServerAdapter

if t.TYPE_CHECKING:
    import types

    from _typeshed.wsgi import WSGIEnvironment

    from .base import StopContext

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.02


class WaitressAdapter(ServerAdapter):
    """Stops the waitress server that served the shutdown request."""

    name = "waitress"
    carries_exit_code = True
    not_detected = "this request was not served by waitress."

    def __init__(self, server: t.Any) -> None:
        #: The waitress server object (``TcpWSGIServer`` or similar).
        self.server = server

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        # waitress puts a bound method of the request's channel here; the
        # channel knows its server.
        check = None if environ is None else environ.get("waitress.client_disconnected")
        channel = getattr(check, "__self__", None)
        server = getattr(channel, "server", None)

        if server is None or not hasattr(server, "trigger"):
            return None

        return cls(server)

    def stop(self, context: StopContext) -> None:
        # Before the loop can return and let the process end.
        exit_with(int(context.record.exit_code), context.finished)

        while True:
            while not self.idle() and not self._give_up(context):
                time.sleep(_POLL_INTERVAL)

            force = self._give_up(context)

            if context.record.forced:
                # A second signal: the code is FORCED now.
                exit_with(int(context.record.exit_code), context.finished)

            # Checked again in the loop's thread: a request may have
            # arrived in between.
            if self._close_in_loop(force=force, forced=context.record.forced):
                return

            time.sleep(_POLL_INTERVAL)

    @staticmethod
    def _give_up(context: StopContext) -> bool:
        return context.record.forced or time.monotonic() >= context.deadline

    def idle(self) -> bool:
        """Whether no request is queued or running and every response has
        been sent in full.
        """
        server = self.server

        if server.task_dispatcher.queue:
            return False

        for channel in list(server._map.values()):
            if getattr(channel, "requests", None) or getattr(
                channel, "total_outbufs_len", 0
            ):
                return False

        return True

    def _close_in_loop(self, force: bool, forced: bool = False) -> bool:
        from waitress import wasyncore

        done = threading.Event()
        closed = []

        def close() -> None:
            try:
                if force or self.idle():
                    if not self.idle():
                        logger.warning(
                            "waitress still had responses to send %s; closing anyway.",
                            "when the stop was forced"
                            if forced
                            else "after SHUTDOWN_DRAIN_TIMEOUT",
                        )

                    wasyncore.close_all(self.server._map)
                    closed.append(True)
            finally:
                done.set()

        self.server.trigger.pull_trigger(close)

        # The loop is idle or busy only briefly; if it has already gone,
        # there is nothing left to close.
        if not done.wait(5):
            return True

        return bool(closed)


#: How long the first signal waits for waitress to take up the requests it
#: had already accepted before the sequence starts anyway.
QUEUE_TIMEOUT = 5.0


def graceful_sigterm(*, sigint: bool = False) -> None:
    """Make SIGTERM (what Kubernetes, systemd and ``docker stop`` send) run
    the same graceful sequence as ``POST /shutdown`` when waitress serves
    the app from the main thread: readiness, the drain delay, the drain,
    the hooks, and the stop, after which the process exits with the
    shutdown's exit code. A second signal forces a fast stop (exit code
    3, :attr:`~flask_shutdown.ExitCode.FORCED`); a third one ends the
    process at once, as SIGTERM does without this handler.

    Call it in the main thread before waitress serves: in the module or
    the factory ``waitress-serve`` imports, or before ``waitress.serve(app)``.

    .. code-block:: python

        from flask_shutdown.adapters.waitress import graceful_sigterm

        graceful_sigterm()

    The first signal queues a task behind the requests waitress has
    already received, so that those are served too (the sequence starts
    at once if no thread takes it within :data:`QUEUE_TIMEOUT` seconds).
    When the signal arrives while waitress is not serving in the main
    thread (the app runs under another server), the handler that was
    there before is called instead.

    :param sigint: Handle SIGINT (Ctrl-C) the same way. Off by default:
        in a terminal, Ctrl-C keeps waitress's own immediate stop.
    :raises RuntimeError: Not called from the main thread, where Python
        runs signal handlers and only where it lets them be installed.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "graceful_sigterm() installs a signal handler, which Python allows"
            " only in the main thread. Call it where waitress is started: in"
            " the module or factory that waitress-serve imports, or before"
            " waitress.serve(app)."
        )

    signums = [signal.SIGTERM, signal.SIGINT] if sigint else [signal.SIGTERM]
    previous = {signum: signal.getsignal(signum) for signum in signums}
    received = 0

    def handler(signum: int, frame: types.FrameType | None) -> None:
        nonlocal received
        server = _serving(frame)

        # Another server, no app with the extension, or a third signal.
        if (
            server is None
            or not _stop_signal.receivers_for(server.application)
            or received >= 2
        ):
            _chain(signum, frame, previous[signal.Signals(signum)])
            return

        received += 1
        name = signal.Signals(signum).name
        # The sequence (and logging) takes locks the interrupted main
        # thread may hold: it starts from a thread of its own.
        threading.Thread(
            target=_begin if received == 1 else _force,
            args=(server, name),
            name="flask-shutdown-signal",
            daemon=True,
        ).start()

    for signum in signums:
        signal.signal(signum, handler)


def _serving(frame: types.FrameType | None) -> t.Any:
    """The waitress server whose loop the main thread runs, found in the
    interrupted frames, or ``None``: exactly the server the signal would
    otherwise kill.
    """
    if "waitress.server" not in sys.modules:
        # Not imported, so not serving; and no import in a signal handler.
        return None

    from waitress.server import BaseWSGIServer
    from waitress.server import MultiSocketServer

    while frame is not None:
        owner = frame.f_locals.get("self") if frame.f_code.co_name == "run" else None

        if isinstance(owner, BaseWSGIServer):
            return owner

        if isinstance(owner, MultiSocketServer):
            # Its servers share one socket map, task queue and trigger.
            for obj in list(owner.map.values()):
                if isinstance(obj, BaseWSGIServer):
                    return obj

        frame = frame.f_back

    return None


def _chain(signum: int, frame: types.FrameType | None, previous: t.Any) -> None:
    """Do what the signal did before :func:`graceful_sigterm`."""
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:
        # SIG_DFL, or a handler not installed from Python, which cannot be
        # put back: end the process as the signal's default action does.
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


class _Marker:
    """A task for waitress's queue: when a thread takes it, every request
    received before the signal has been handed to the app.
    """

    def __init__(self) -> None:
        self.taken = threading.Event()

    def service(self) -> None:
        self.taken.set()

    def cancel(self) -> None:
        self.taken.set()

    def defer(self) -> None:
        pass


def _begin(server: t.Any, name: str) -> None:
    logger.warning("%s: running the graceful shutdown.", name)
    marker = _Marker()
    passed = threading.Event()

    # Queued from the main loop, one pass after the signal: by then the
    # loop has read every request that had reached its sockets. (Not
    # pulled from inside a thunk: the trigger holds its lock there.)
    server.trigger.pull_trigger(passed.set)
    passed.wait(QUEUE_TIMEOUT)
    server.trigger.pull_trigger(lambda: server.task_dispatcher.add_task(marker))

    if not marker.taken.wait(QUEUE_TIMEOUT):
        logger.warning(
            "waitress took up no queued request for %.1f s; starting the"
            " shutdown anyway, requests still queued will get 503.",
            QUEUE_TIMEOUT,
        )

    _deliver(server, name, force=False)


def _force(server: t.Any, name: str) -> None:
    logger.warning("%s: forcing the stop.", name)
    _deliver(server, name, force=True)


def _deliver(server: t.Any, name: str, force: bool) -> None:
    for receiver in _stop_signal.receivers_for(server.application):
        receiver(name, WaitressAdapter(server), force)
