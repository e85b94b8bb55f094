"""Counting the requests in flight, at the WSGI level, so that a shutdown
can wait for them.

A request counts from the moment the server hands it to the app until its
response body has been sent: until the body iterable is exhausted or
closed, whichever comes first. Werkzeug's server does not always call
``close()`` (for example when the client resets the connection after
reading the body), so waiting for ``close()`` alone would leak the count
and make every drain wait out its timeout.
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger("flask_shutdown")

#: The environ key under which a list of callables is kept; each one is
#: called once the response of that request has been sent.
ON_FINISH_KEY = "flask_shutdown.on_finish"


class InFlight:
    """The set of requests the app is serving right now."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: dict[int, tuple[str, float]] = {}
        self._next = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._active)

    def enter(self, description: str) -> int:
        """Count a request in. Returns the ticket to :meth:`leave` with."""
        with self._cond:
            self._next += 1
            self._active[self._next] = (description, time.monotonic())
            return self._next

    def leave(self, ticket: int) -> None:
        """Count a request out. Leaving twice is harmless."""
        with self._cond:
            if self._active.pop(ticket, None) is not None and not self._active:
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until no request is in flight or ``timeout`` seconds
        passed. Returns whether the app became idle.
        """
        with self._cond:
            return self._cond.wait_for(lambda: not self._active, timeout)

    def describe(self) -> list[str]:
        """What is in flight, oldest first, as ``"GET /path (1.2 s)"``."""
        now = time.monotonic()

        with self._cond:
            items = sorted(self._active.values(), key=lambda item: item[1])

        return [f"{desc} ({now - started:.1f} s)" for desc, started in items]


class _Body:
    """Wraps a response body to learn when it has been sent."""

    def __init__(
        self, body: cabc.Iterable[bytes], done: cabc.Callable[[], None]
    ) -> None:
        self._body = body
        self._iter: cabc.Iterator[bytes] | None = None
        self._done = done
        self._finished = False
        self._lock = threading.Lock()

    def __iter__(self) -> cabc.Iterator[bytes]:
        self._iter = iter(self._body)
        return self

    def __next__(self) -> bytes:
        assert self._iter is not None

        try:
            return next(self._iter)
        except BaseException:
            # StopIteration is the normal end; any other error also ends
            # the response, and must not leave the request counted.
            self._finish()
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)

            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            if self._finished:
                return

            self._finished = True

        self._done()


class TrackingMiddleware:
    """WSGI middleware that counts requests in :class:`InFlight`, refuses
    new ones with 503 once the shutdown no longer accepts work, and runs
    the ``on_finish`` callbacks a view registered once its response has
    been sent.

    :param wsgi_app: The app's ``wsgi_app`` it wraps.
    :param in_flight: Where requests are counted.
    :param refusing: Returns whether new requests must be refused now.
    :param exempt: Paths that are never refused, such as the shutdown,
        status and readiness endpoints.
    """

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        in_flight: InFlight,
        refusing: cabc.Callable[[], bool],
        exempt: cabc.Collection[str],
    ) -> None:
        self.wsgi_app = wsgi_app
        self.in_flight = in_flight
        self.refusing = refusing
        self.exempt = frozenset(exempt)

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"

        if self.refusing() and path.rstrip("/") not in self.exempt:
            return _refuse(start_response)

        ticket = self.in_flight.enter(f"{environ.get('REQUEST_METHOD')} {path}")
        callbacks: list[cabc.Callable[[], None]] = []
        environ[ON_FINISH_KEY] = callbacks

        def done() -> None:
            # Count the request out first: a shutdown started by this very
            # request must not wait for it.
            self.in_flight.leave(ticket)

            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    logger.exception("A shutdown callback failed.")

        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            done()
            raise

        return _Body(body, done)


_REFUSED = (
    b'{"error": "shutting_down", "message": "The server is shutting down and'
    b' accepts no new requests. Retry against another instance."}\n'
)


def _refuse(start_response: StartResponse) -> list[bytes]:
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(_REFUSED))),
            ("Retry-After", "1"),
            # No "Connection: close": it is hop-by-hop, which PEP 3333
            # forbids to apps, and waitress turns the 503 into a 500.
        ],
    )
    return [_REFUSED]
