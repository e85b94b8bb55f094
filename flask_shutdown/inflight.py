"""Counting the requests in flight, at the WSGI level, so that a shutdown
can wait for them.

A request counts from the moment the server hands it to the app until its
response body has been sent: until the body iterable is exhausted or
closed, whichever comes first, or the body is dropped unsent. Werkzeug's
server does not always call ``close()`` (for example when the client
resets the connection after reading the body), so waiting for ``close()``
alone would leak the count and make every drain wait out its timeout.

Requests made with Werkzeug's test client are not counted: nobody waits
for their responses on a socket, and a test that never reads or closes
one must not hold a drain for ``SHUTDOWN_DRAIN_TIMEOUT``.

This code runs on every request of the app, so it takes no lock: adding
and removing a dict item is atomic, and a waiter is woken through an
event only while one is waiting.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import itertools
import logging
import threading
import time
import typing as t

from .adapters.testclient import is_test_client
from .redaction import redact
from .refusals import ShutdownRefused

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger(__name__)

#: The longest a drain waits between two looks at the in-flight set. The
#: event wakes it at once in all but one case: a request that leaves
#: between the look and the wait finds no event to set yet.
_IDLE_POLL = 0.05

#: The environ key holding a request's ticket in :class:`InFlight`.
TICKET_KEY = "flask_shutdown.ticket"


class InFlight:
    """The set of requests the app is serving right now."""

    def __init__(self) -> None:
        self._tickets = itertools.count(1)
        #: Ticket -> (method, path, start time).
        self._active: dict[int, tuple[str, str, float]] = {}
        #: Ticket -> callbacks to run once that request has been sent.
        self._after: dict[int, list[cabc.Callable[[], None]]] = {}
        #: One event per thread waiting in :meth:`wait_idle`.
        self._waiters: set[threading.Event] = set()

    def __len__(self) -> int:
        return len(self._active)

    def enter(self, method: str, path: str) -> int:
        """Count a request in. Returns the ticket to :meth:`leave` with."""
        ticket = next(self._tickets)
        self._active[ticket] = (method, path, time.monotonic())
        return ticket

    def leave(self, ticket: int) -> None:
        """Count a request out and run its :meth:`after` callbacks.
        Leaving twice is harmless.
        """
        if self._active.pop(ticket, None) is not None and (
            self._after or self._waiters
        ):
            self._left(ticket)

    def _left(self, ticket: int) -> None:
        """The rest of :meth:`leave` once ``ticket`` is out of the count:
        its callbacks, and the waiters if it was the last request.
        """
        if self._after:
            for callback in self._after.pop(ticket, ()):
                try:
                    callback()
                except Exception:
                    logger.exception("A shutdown callback failed.")

        if self._waiters and not self._active:
            for event in list(self._waiters):
                event.set()

    def after(self, ticket: int, callback: cabc.Callable[[], None]) -> None:
        """Run ``callback`` once the request with ``ticket`` has been sent
        (at once if it already has).
        """
        self._after.setdefault(ticket, []).append(callback)

        if ticket not in self._active:
            # Left in the meantime: nobody else will run it.
            for callback in self._after.pop(ticket, ()):
                callback()

    @contextlib.contextmanager
    def parked(self, ticket: int | None) -> cabc.Iterator[None]:
        """Leave the request with ``ticket`` out of the count inside the
        block: a status read that waits for the shutdown to move on must
        not hold up the drain it waits for. It counts again afterwards,
        until its answer has been sent.
        """
        entry = None if ticket is None else self._active.pop(ticket, None)

        if entry is None:
            yield
            return

        assert ticket is not None

        if self._waiters and not self._active:
            for event in list(self._waiters):
                event.set()

        try:
            yield
        finally:
            self._active[ticket] = entry

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until no request is in flight or ``timeout`` seconds
        passed. Returns whether the app became idle.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        idle = threading.Event()
        # Published before the check, so a request that leaves after the
        # check sees it and wakes this wait.
        self._waiters.add(idle)

        try:
            while self._active:
                step = _IDLE_POLL

                if deadline is not None:
                    remaining = deadline - time.monotonic()

                    if remaining <= 0:
                        return False

                    step = min(remaining, step)

                idle.wait(step)
                idle.clear()

            return True
        finally:
            self._waiters.discard(idle)

    def describe(self) -> list[str]:
        """What is in flight, oldest first, as ``"GET /path (1.2 s)"``.
        Paths only, as query strings may carry secrets, and with long
        token-like segments redacted, as paths may too
        (``/reset/<token>``).
        """
        now = time.monotonic()
        items = sorted(list(self._active.values()), key=lambda item: item[2])
        # Redacted here, not when the request comes in: this runs only
        # when a drain times out, the other on every request.
        return [
            redact(f"{method} {path} ({now - started:.1f} s)")
            for method, path, started in items
        ]


def _sent(
    body: cabc.Iterable[bytes], in_flight: InFlight, ticket: int
) -> cabc.Generator[bytes, None, None]:
    """The response body the server gets: ``body``, counting the request
    out when it has been sent.

    A generator rather than a wrapper class, because it is the cheapest
    object Python offers that runs code at each of the four ends of a body:
    exhausted, failed while iterated, closed, and dropped (a dropped
    generator is closed). The middleware advances it to its first
    ``yield`` before handing it over: an unstarted generator runs no
    ``finally`` when closed or dropped.

    The inner body is closed here, as soon as it is exhausted: the server's
    own ``close()`` reaches this generator, which then has nothing left to
    do. Closing it once is what PEP 3333 asks of the server.
    """
    try:
        yield b""  # Consumed by the middleware; the server never sees it.
        # Not ``yield from``: that would throw GeneratorExit into the body
        # and then close it a second time below.
        for chunk in body:  # noqa: UP028
            yield chunk
    finally:
        try:
            close = getattr(body, "close", None)

            if close is not None:
                close()
        finally:
            # InFlight.leave, inlined: this runs on every request.
            if in_flight._active.pop(ticket, None) is not None and (
                in_flight._after or in_flight._waiters
            ):
                in_flight._left(ticket)


class TrackingMiddleware:
    """WSGI middleware that counts requests in :class:`InFlight` and
    refuses new ones with 503 once the shutdown no longer admits them.

    :param wsgi_app: The app's ``wsgi_app`` it wraps.
    :param in_flight: Where requests are counted.
    :param gate: An object whose ``admitting`` attribute says whether new
        requests are served; read on every request.
    :param exempt: Paths that are never refused, such as the shutdown,
        status and readiness endpoints.
    """

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        in_flight: InFlight,
        gate: t.Any,
        exempt: cabc.Collection[str],
    ) -> None:
        self.wsgi_app = wsgi_app
        self.in_flight = in_flight
        self.gate = gate
        self.exempt = frozenset(exempt)

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        if not self.gate.admitting:
            path = (environ.get("PATH_INFO") or "/").rstrip("/")

            if path not in self.exempt:
                start_response("503 Service Unavailable", _DRAINING_HEADERS)
                return [_DRAINING.body]

        # Every real server sets SERVER_SOFTWARE: one dict look-up for them.
        if "SERVER_SOFTWARE" not in environ and is_test_client(environ):
            return self.wsgi_app(environ, start_response)

        # InFlight.enter, inlined: this runs on every request of the app.
        in_flight = self.in_flight
        ticket = environ[TICKET_KEY] = next(in_flight._tickets)
        in_flight._active[ticket] = (
            environ.get("REQUEST_METHOD", ""),
            environ.get("PATH_INFO", ""),
            time.monotonic(),
        )

        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            in_flight.leave(ticket)
            raise

        sent = _sent(body, in_flight, ticket)
        next(sent)
        return sent


#: The answer to a new request while the server drains, as plain WSGI:
#: the app is not involved. No ``Connection: close``: it is hop-by-hop,
#: which PEP 3333 forbids to apps, and waitress turns such a response into
#: a 500.
_DRAINING = ShutdownRefused.retry_after(
    "shutting_down",
    "The server is shutting down and accepts no new requests. Retry against"
    " another instance.",
    1,
)
_DRAINING_HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Length", str(len(_DRAINING.body))),
    *_DRAINING.headers.items(),
]
