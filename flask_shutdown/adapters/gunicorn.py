"""gunicorn: SIGTERM to the arbiter, after the accept queue has drained.

gunicorn has no API for a worker to stop the server, but its arbiter
stops gracefully on SIGTERM: it closes its listening sockets, sends
SIGTERM to every worker, waits up to ``graceful_timeout`` (30 s by
default) for them, and exits 0. A worker that gets SIGTERM finishes what
it has accepted (the sync worker its current request, the gthread worker
every connection it holds) and then returns normally, so ``atexit``
handlers run in it. That is where the other workers run the teardown
hooks (see :func:`prepare`); the worker that served ``POST /shutdown``
has already run them.

Connections still waiting in the kernel's accept queue when the last
process closes the listening socket are reset. With sync workers that
queue fills up under load, so with several sync workers the whole
sequence runs inline, at the end of the shutdown response: the worker
that got it stops accepting while it waits, bounded by
``SHUTDOWN_DRAIN_TIMEOUT`` and by half the worker ``timeout``, until the
other workers have emptied the queue, which it reads from ``TCP_INFO``
(Linux; gunicorn reads the same field for its backlog metric). Then it
signals the arbiter. gthread workers accept eagerly into their own
queue, which they serve in full on SIGTERM, so they signal at once; the
one that got the shutdown stops accepting right away, leaving new
connections to the other workers instead of answering them with 503
while it drains.

The arbiter never runs the hooks, even with ``--preload``: it serves no
request. Use gunicorn's ``on_exit`` server hook for work that belongs
there.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
import typing as t

from ._backlog import wait_backlog_empty
from .base import ServerAdapter

if t.TYPE_CHECKING:
    import collections.abc as cabc

    from _typeshed.wsgi import WSGIEnvironment

    from .base import StopContext

logger = logging.getLogger(__name__)


class GunicornAdapter(ServerAdapter):
    """Stops a gunicorn server from one of its workers."""

    name = "gunicorn"

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        if environ is None:
            return None

        software = str(environ.get("SERVER_SOFTWARE", ""))

        if not software.startswith("gunicorn/") and "gunicorn.socket" not in environ:
            return None

        worker = current_worker()

        if worker is not None and _drains_backlog(worker):
            return _SyncGunicornAdapter(worker)

        return cls(worker)

    @classmethod
    def create(cls, environ: WSGIEnvironment | None) -> ServerAdapter:
        adapter = cls.detect(environ)

        if adapter is not None:
            return adapter

        if environ is None:
            worker = current_worker()

            if worker is not None:
                return cls(worker)

        raise RuntimeError(
            "SHUTDOWN_STRATEGY is 'gunicorn', but this request was not served by"
            " a gunicorn worker."
        )

    def __init__(self, worker: t.Any = None) -> None:
        #: The gunicorn ``Worker`` of this process, if found.
        self.worker = worker

    def accepted(self) -> None:
        worker = self.worker

        if worker is not None and _is_threaded(worker) and worker.cfg.workers > 1:
            # The other workers serve new connections from now on; this
            # one finishes those it holds instead of answering new ones
            # with 503 during its drain. The main loop drops the listener
            # itself once over this limit.
            worker.worker_connections = 0
            wake = getattr(getattr(worker, "method_queue", None), "defer", None)

            if wake is not None:
                wake(lambda: None)

    def stop(self, context: StopContext) -> None:
        worker = self.worker
        arbiter = os.getppid() if worker is None else int(worker.ppid)
        logger.info("Sending SIGTERM to the gunicorn arbiter %d.", arbiter)
        os.kill(arbiter, signal.SIGTERM)


class _SyncGunicornAdapter(GunicornAdapter):
    """With several sync workers: runs inline, so this worker accepts
    nothing more while the others empty the accept queue.
    """

    inline = True

    def stop(self, context: StopContext) -> None:
        # The arbiter kills a sync worker that is silent for its timeout.
        timeout = min(context.remaining(), float(self.worker.cfg.timeout) / 2)
        listeners = [
            socket.socket(fileno=os.dup(listener.fileno()))
            for listener in self.worker.sockets
        ]

        try:
            wait_backlog_empty(listeners, timeout)
        finally:
            for sock in listeners:
                sock.close()

        super().stop(context)


def current_worker() -> t.Any:
    """The gunicorn ``Worker`` object of this process, or ``None`` (in the
    arbiter, or outside gunicorn).
    """
    if "gunicorn.workers.base" not in sys.modules:
        return None

    from gunicorn.workers.base import Worker

    pid = os.getpid()

    for obj in gc.get_objects():
        # The arbiter keeps a Worker object for each child too; only the
        # one whose pid is this process is ours.
        if isinstance(obj, Worker) and obj.pid == pid:
            return obj

    return None


def prepare(on_exit: cabc.Callable[[], object]) -> None:
    """Call ``on_exit`` (which runs the hooks once) in each worker when it
    exits, for the workers that did not serve the shutdown request.
    Called at ``init_app``.
    """
    if "gunicorn" not in sys.modules:
        return

    def at_exit() -> None:
        # With --preload this handler is registered in the arbiter and
        # inherited by every worker; it runs only in the workers.
        if current_worker() is not None:
            on_exit()

    atexit.register(at_exit)


def _is_threaded(worker: t.Any) -> bool:
    from gunicorn.workers.gthread import ThreadWorker

    return isinstance(worker, ThreadWorker)


def _drains_backlog(worker: t.Any) -> bool:
    from gunicorn.workers.sync import SyncWorker

    # With a single worker nobody else would serve the queue.
    return (
        isinstance(worker, SyncWorker)
        and int(worker.cfg.workers) > 1
        and sys.platform.startswith("linux")
    )


#: The environment variable through which the arbiter gives its workers
#: the per-run secret of :func:`graceful_sigterm`. Not under ``FLASK_``,
#: which Flask's ``from_prefixed_env`` would copy into the app's config.
ARBITER_TOKEN_ENV = "GUNICORN_FLASK_SHUTDOWN_TOKEN"


def graceful_sigterm(
    path: str = "/shutdown", timeout: float = 5.0
) -> t.Callable[[t.Any], None]:
    """An ``on_starting`` server hook that makes SIGTERM to the arbiter
    (what Kubernetes, systemd and ``docker stop`` send) run the same
    graceful sequence as ``POST /shutdown``: readiness, the drain delay,
    the drain including the accept queue, the hooks once per worker.

    .. code-block:: python

        # gunicorn.conf.py
        from flask_shutdown.adapters.gunicorn import graceful_sigterm

        on_starting = graceful_sigterm()

    On the first SIGTERM the arbiter posts to ``path`` on its own listener
    with a secret made for this run and handed to its workers through the
    environment (:data:`ARBITER_TOKEN_ENV`); the worker that gets it runs
    the sequence and ends it with the SIGTERM gunicorn then handles as
    usual. If no worker accepts within ``timeout`` seconds, or the sequence
    has not stopped the server within ``graceful_timeout``, the arbiter
    stops the usual way.

    :param path: ``SHUTDOWN_PATH`` of the app.
    :param timeout: Seconds to wait for a worker to accept.
    """

    def on_starting(server: t.Any) -> None:
        token = secrets.token_urlsafe(32)
        # Set before the workers are forked, so every one inherits it.
        os.environ[ARBITER_TOKEN_ENV] = token
        original = server.handle_term
        asked = threading.Event()

        def handle_term() -> None:
            if asked.is_set():
                original()
                return

            asked.set()
            server.log.info("SIGTERM: asking a worker for the graceful shutdown.")
            threading.Thread(
                target=_ask_a_worker,
                args=(server, path, token, timeout),
                name="flask-shutdown-sigterm",
                daemon=True,
            ).start()

        server.handle_term = handle_term

    return on_starting


def _ask_a_worker(server: t.Any, path: str, token: str, timeout: float) -> None:
    import http.client

    status = None

    try:
        host, port = _loopback_address(server)
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request(
            "POST",
            path,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
            },
            body='{"reason": "SIGTERM to the gunicorn arbiter"}',
        )
        status = conn.getresponse().status
        conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        server.log.warning("No worker took the graceful shutdown (%s).", e)

    if status == 202:
        # The worker signals the arbiter once it is done; this is only the
        # bound, in case it never does.
        time.sleep(float(server.cfg.graceful_timeout))
        server.log.warning("The graceful shutdown did not finish; stopping.")
    elif status is not None:
        server.log.warning("The graceful shutdown was refused (HTTP %s).", status)

    # Handled by the original SIGTERM handler, now that asked is set.
    os.kill(os.getpid(), signal.SIGTERM)


def _loopback_address(server: t.Any) -> tuple[str, int]:
    """Where the arbiter reaches its own workers: its first TCP listener,
    over loopback when it listens on every address.
    """
    for listener in server.LISTENERS:
        address = listener.sock.getsockname()

        if isinstance(address, tuple):
            host = address[0]

            if host in ("0.0.0.0", ""):
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"

            return host, int(address[1])

    raise ValueError("the arbiter has no TCP listener to reach its workers on")
