"""uWSGI (2.0, with ``--master``): the master FIFO's ``q`` command.

``uwsgi.stop()`` and SIGINT make the master kill its workers at once,
whatever they are doing, and SIGTERM makes uWSGI 2.0 *reload*, brutally,
unless ``--die-on-term`` is set, which makes it a brutal stop. The only
graceful stop of uWSGI 2.0 is ``gracefully_kill_them_all``: each worker
finishes its current request and exits, then the master exits 0. It is
reached by writing ``q`` to the master FIFO (``--master-fifo PATH``), so
that is what is used when the FIFO is configured.

Without a FIFO, the stop waits (bounded by ``SHUTDOWN_DRAIN_TIMEOUT``)
until every other worker is idle and no connection waits to be accepted,
then sends SIGINT to the master: stopping idle workers loses nothing,
but a request accepted in the last instant is cut, so configure the
FIFO.

Either way the sequence runs inline, at the end of the shutdown
response: the worker that got it accepts nothing more (it would only
answer 503) while the other workers empty the accept queue, whose
connections would otherwise be reset when the master closes the socket.

The workers that did not serve the shutdown request run the hooks when
they exit (see :func:`prepare`); uWSGI runs Python's ``atexit`` handlers
in a worker that exits gracefully, never in the master.

SIGTERM, which Kubernetes, systemd and ``docker stop`` send the master,
runs no app code there. But ``hook-master-start`` hooks run after the
master has installed its signal handlers, and the ``unix_signal`` hook
replaces one with a C function of uWSGI: with ``unix_signal:15
uwsgi_route_signal`` the master sends uWSGI signal 15 to the first free
worker instead, and :func:`route_stop_signal` registers the handler that
runs the sequence there (see :class:`_RoutedSignalAdapter`).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import socket
import threading
import time
import typing as t

from . import _stop_signal
from ._backlog import backlog
from ._backlog import wait_backlog_empty
from .base import ServerAdapter

if t.TYPE_CHECKING:
    import collections.abc as cabc

    from _typeshed.wsgi import WSGIEnvironment

    from .base import StopContext

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.05


def _module() -> t.Any:
    """The ``uwsgi`` module, which only exists inside uWSGI, or ``None``."""
    try:
        import uwsgi
    except ImportError:
        return None

    return uwsgi


class UwsgiAdapter(ServerAdapter):
    """Stops uWSGI's master from one of its workers."""

    name = "uwsgi"
    inline = True

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        if environ is None or "uwsgi.version" not in environ:
            return None

        return cls.create(environ)

    @classmethod
    def create(cls, environ: WSGIEnvironment | None) -> ServerAdapter:
        uwsgi = _module()

        if uwsgi is None:
            raise RuntimeError(
                "SHUTDOWN_STRATEGY is 'uwsgi', but this process does not run"
                " under uWSGI."
            )

        if not uwsgi.masterpid():
            raise RuntimeError(
                "uWSGI runs without --master, and only its master can stop it"
                " gracefully. Start uWSGI with --master, or set"
                " SHUTDOWN_STRATEGY to a callable that stops it."
            )

        return cls()

    def stop(self, context: StopContext) -> None:
        uwsgi = _module()
        deadline = context.deadline
        listeners = [socket.socket(fileno=os.dup(fd)) for fd in uwsgi.sockets]

        try:
            if int(uwsgi.numproc) > 1:
                wait_backlog_empty(listeners, context.remaining())

            fifo = _master_fifo(uwsgi)

            if fifo is not None:
                logger.info("Writing 'q' to the uWSGI master FIFO %s.", fifo)
                self._tell_master(functools.partial(_write_fifo, fifo))
                return

            _wait_others_idle(uwsgi, listeners, deadline)
        finally:
            for sock in listeners:
                sock.close()

        master = int(uwsgi.masterpid())
        logger.warning(
            "uWSGI has no --master-fifo; sending SIGINT to the master %d once"
            " the other workers are idle.",
            master,
        )
        self._tell_master(functools.partial(os.kill, master, signal.SIGINT))

    def _tell_master(self, tell: cabc.Callable[[], object]) -> None:
        tell()


class _RoutedSignalAdapter(UwsgiAdapter):
    """Runs the sequence in the uWSGI signal handler of the worker that
    took the routed SIGTERM, which accepts nothing meanwhile, like the
    worker serving ``POST /shutdown``.

    The master must hear of the stop only once the handler has returned:
    it answers with SIGHUP, on which a worker still in a signal handler
    (not in a request) exits on the spot, skipping the app's ``atexit``
    handlers and whatever the sequence had left to log.
    """

    def _tell_master(self, tell: cabc.Callable[[], object]) -> None:
        uwsgi = _module()

        if not _threads_enabled(uwsgi):
            # No Python thread runs while the worker waits in uWSGI's loop.
            tell()
            return

        threading.Thread(
            target=_after_handler,
            args=(uwsgi, tell),
            name="flask-shutdown-uwsgi",
            daemon=True,
        ).start()


def master_pid() -> int | None:
    """The uWSGI master's pid, in a worker of uWSGI with ``--master``."""
    uwsgi = _module()

    if uwsgi is None:
        return None

    pid = int(uwsgi.masterpid())
    return pid if pid and pid != os.getpid() else None


def prepare(on_exit: cabc.Callable[[], object]) -> None:
    """Call ``on_exit`` (which runs the hooks once) in each worker when it
    exits, for the workers that did not serve the shutdown request.
    Called at ``init_app``.
    """
    uwsgi = _module()

    if uwsgi is None:
        return

    def at_exit() -> None:
        # Without --lazy-apps the app is loaded in the master and this
        # handler is inherited by the workers; uWSGI does not run atexit
        # handlers in the master, and the check keeps it that way.
        if os.getpid() != uwsgi.masterpid():
            on_exit()

    atexit.register(at_exit)


def _master_fifo(uwsgi: t.Any) -> str | None:
    value = uwsgi.opt.get("master-fifo")

    if isinstance(value, list):
        # Several FIFOs: the first one is the one selected at start.
        value = value[0] if value else None

    if isinstance(value, bytes):
        value = value.decode()

    return value or None


def _wait_others_idle(
    uwsgi: t.Any, listeners: list[socket.socket], deadline: float
) -> None:
    me = uwsgi.worker_id()
    quiet = 0

    while time.monotonic() < deadline:
        busy = [
            w
            for w in uwsgi.workers()
            if w.get("id") != me and w.get("status") not in (b"idle", "idle")
        ]
        quiet = quiet + 1 if not busy and not sum(map(backlog, listeners)) else 0

        if quiet >= 3:
            return

        time.sleep(_POLL_INTERVAL)


def _write_fifo(fifo: str) -> None:
    with open(fifo, "wb") as f:
        f.write(b"q")


#: The C function of uWSGI that the master's hook calls with a Unix
#: signal's number (``hook-master-start = unix_signal:15
#: uwsgi_route_signal``): it sends the uWSGI signal of the same number to
#: the first free worker.
ROUTE_FUNCTION = "uwsgi_route_signal"

#: How long the thread that tells the master waits for the worker to
#: leave its signal handler.
HANDLER_EXIT_TIMEOUT = 5.0

#: The uWSGI signals registered in this process (the master's
#: registration is inherited by its workers).
_registered: set[int] = set()


def routed_signals(uwsgi: t.Any) -> list[int]:
    """The Unix signals the master routes to its workers, read from its
    ``hook-master-start`` options.
    """
    values = uwsgi.opt.get("hook-master-start")

    if not isinstance(values, list):
        values = [] if values is None else [values]

    rv = []

    for value in values:
        if isinstance(value, bytes):
            value = value.decode(errors="replace")

        action, _, arg = str(value).partition(":")
        parts = arg.split()

        if (
            action.strip() == "unix_signal"
            and len(parts) == 2
            and parts[0].isdigit()
            and parts[1] == ROUTE_FUNCTION
        ):
            rv.append(int(parts[0]))

    return rv


def route_stop_signal() -> None:
    """At ``init_app``: for each Unix signal the master routes to the
    workers, register the uWSGI signal of that number (once per process)
    so that the worker that takes it runs the graceful sequence. Nothing
    is registered unless the uWSGI config asks for the routing.
    """
    uwsgi = _module()

    if uwsgi is None or not uwsgi.masterpid():
        return

    for signum in routed_signals(uwsgi):
        if signum in _registered:
            continue

        try:
            uwsgi.register_signal(signum, "worker", _on_routed_signal)
        except Exception as e:  # uWSGI raises bare Exception subclasses.
            logger.error(
                "The uWSGI master routes signal %d to the workers, but its"
                " handler could not be registered (%s); is uWSGI signal %d"
                " registered by the app already? That signal will not stop"
                " the server.",
                signum,
                e,
                signum,
            )
            continue

        _registered.add(signum)
        logger.info(
            "uWSGI signal %d runs the graceful shutdown (routed by the master).",
            signum,
        )


def _on_routed_signal(signum: int) -> None:
    """The uWSGI signal handler, in the worker that took the signal."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"

    receivers = _stop_signal.receivers_for(None)
    started = False

    for receiver in receivers:
        started = receiver(name, _RoutedSignalAdapter(), False) or started

    if not started:
        # A shutdown was under way already (a second signal, in this or
        # another worker): stop now, as uWSGI's own SIGINT does.
        master = int(_module().masterpid())
        logger.warning(
            "%s again during the shutdown: sending SIGINT to the uWSGI master"
            " %d, which stops at once.",
            name,
            master,
        )
        os.kill(master, signal.SIGINT)


def _threads_enabled(uwsgi: t.Any) -> bool:
    opt = uwsgi.opt
    return bool(opt.get("enable-threads") or opt.get("threads"))


def _after_handler(uwsgi: t.Any, tell: cabc.Callable[[], object]) -> None:
    me = uwsgi.worker_id()
    deadline = time.monotonic() + HANDLER_EXIT_TIMEOUT

    while time.monotonic() < deadline:
        status = next(
            (w.get("status") for w in uwsgi.workers() if w.get("id") == me), b""
        )

        if isinstance(status, bytes):
            status = status.decode(errors="replace")

        # "sig15" while in the handler of uWSGI signal 15.
        if not str(status).startswith("sig"):
            break

        time.sleep(_POLL_INTERVAL / 5)

    tell()
