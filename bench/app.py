"""The app every approach serves, and the hello-world app of the overhead
rows.

gunicorn, ``flask run``, waitress and uWSGI import it as
``bench.app:create_app`` from the repository root, so it imports only
Flask, Flask-Shutdown and :mod:`bench.common`.
"""

from __future__ import annotations

import collections.abc as cabc
import json
import os
import time
import typing as t

from flask import Flask
from flask import request
from werkzeug.wsgi import ClosingIterator

from flask_shutdown import Shutdown

from .common import CONFIG_ENV
from .common import EVENT_LOG_ENV
from .common import perf
from .common import PID_HEADER
from .common import SLEEP_S
from .common import TOKEN

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment


def _event(kind: str) -> None:
    """Append ``KIND TIME PID`` to the file named by ``$BENCH_EVENT_LOG``."""
    path = os.environ.get(EVENT_LOG_ENV)

    if not path:
        return

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    try:
        os.write(fd, f"{kind} {perf():.6f} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def create_app(extension: bool = True) -> Flask:
    """The app every approach serves: ``GET /``, ``GET /sleep`` (0.3 s),
    and ``POST /stop-server``, a naive shutdown view that calls
    ``shutdown()`` on the ``make_server`` server serving it.

    :param extension: Register :class:`~flask_shutdown.Shutdown` with one
        static token.
    """
    app = Flask("flask_shutdown_bench")
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.get("/sleep")
    def slow() -> str:
        _event("enter")
        time.sleep(SLEEP_S)
        return "slept"

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        if request.path == "/sleep":
            _event("teardown")

    @app.post("/stop-server")
    def stop_server() -> str:
        server = app.extensions["bench_server"]
        server.shutdown()
        return "stopping"

    extra = os.environ.get(CONFIG_ENV)

    if extra:
        # Rows H: the config of the row, and which worker answered.
        app.config.update(json.loads(extra))

        @app.after_request
        def name_worker(response: t.Any) -> t.Any:
            response.headers[PID_HEADER] = str(os.getpid())
            return response

    if extension:
        Shutdown(app)

    inner = app.wsgi_app

    def log_sent(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        body = inner(environ, start_response)

        if environ.get("PATH_INFO") != "/sleep":
            return body

        def chunks() -> cabc.Iterator[bytes]:
            yield from body
            # The server asks for the next chunk once it has written the
            # last one: the moment a slow request is over, taken in the
            # server's process rather than in a client thread that may be
            # scheduled late. (close() would be later: Werkzeug first waits
            # up to 10 ms for the client to send more.)
            _event("sent")

        close = getattr(body, "close", None)
        return ClosingIterator(chunks(), [] if close is None else [close])

    app.wsgi_app = log_sent  # type: ignore[method-assign]
    return app


def create_app_graceful_sigterm() -> Flask:
    """:func:`create_app` for ``waitress-serve --call``, with SIGTERM made
    graceful: waitress calls the factory in the main thread, before it
    serves.
    """
    from flask_shutdown.adapters.waitress import graceful_sigterm

    graceful_sigterm()
    return create_app()


def hello_app(extension: bool) -> Flask:
    """The app of the overhead rows: one view that returns ``"ok"``, and
    nothing else, so that the extension is the only difference.

    :param extension: Register :class:`~flask_shutdown.Shutdown` with one
        static token.
    """
    app = Flask("flask_shutdown_bench_hello")
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]

    @app.get("/")
    def index() -> str:
        return "ok"

    if extension:
        Shutdown(app)

    return app
