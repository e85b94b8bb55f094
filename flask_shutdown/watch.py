"""Stopping by itself: after ``SHUTDOWN_IDLE_TIMEOUT`` seconds without a
request, or when the process that started the server has gone
(``SHUTDOWN_STOP_WITH_PARENT``). Both run the normal graceful sequence,
with ``source`` ``"idle"`` or ``"parent"``.

For local servers: a development server in a second terminal, a local
tool's front end, a test rig that may crash and leave its server behind.

A watcher thread looks a few times a second; requests only note the time
they arrived, and only when the idle timeout is on. A request in flight,
a streaming response included, is activity for as long as it runs;
requests to the paths in ``SHUTDOWN_IDLE_IGNORE`` (the readiness and
status endpoints by default, which probes call) are not.

The parent is watched through ``os.getppid()``, which changes when the
parent exits and the process is handed to an init or subreaper process;
this works the same on Linux and macOS.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    import collections.abc as cabc

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

    from .browser import PageTracker

logger = logging.getLogger(__name__)

#: The longest the watcher sleeps between two looks.
MAX_POLL = 0.5


class Watcher:
    """Starts a shutdown when the app has been idle for ``idle_timeout``
    seconds, or when the parent process has gone.

    :param stop: Starts the graceful sequence with a reason and a source;
        called at most once.
    :param in_flight: Returns how many requests are in flight.
    :param idle_timeout: Seconds without a request; ``None`` for never.
    :param stop_with_parent: Whether to stop when the parent exits.
    :param pages: The browser pages to outlive, for
        ``SHUTDOWN_BROWSER_TIMEOUT``.
    """

    def __init__(
        self,
        stop: cabc.Callable[[str, str], object],
        in_flight: cabc.Callable[[], int],
        *,
        idle_timeout: float | None,
        stop_with_parent: bool,
        pages: PageTracker | None = None,
    ) -> None:
        self._stop = stop
        self._in_flight = in_flight
        self.idle_timeout = idle_timeout
        self.stop_with_parent = stop_with_parent
        self.pages = pages
        #: ``time.monotonic()`` of the last activity.
        self.last_activity = time.monotonic()
        self._parent = os.getppid()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def touch(self) -> None:
        """Note activity now."""
        self.last_activity = time.monotonic()

    def start(self) -> None:
        """Start watching in a daemon thread; again in a forked child,
        whose threads did not survive the fork.
        """
        self._parent = os.getppid()
        self.last_activity = time.monotonic()
        self._done.clear()
        self._thread = threading.Thread(
            target=self._run, name="flask-shutdown-watch", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop watching."""
        self._done.set()

    def _run(self) -> None:
        poll = MAX_POLL

        for timeout in (self.idle_timeout, self.pages and self.pages.timeout):
            if timeout:
                poll = min(poll, max(timeout / 10, 0.01))

        while not self._done.wait(poll):
            if self.stop_with_parent and os.getppid() != self._parent:
                self._fire(f"the parent process {self._parent} exited", "parent")
                return

            if self.pages is not None:
                gone = self.pages.gone_for()

                if gone is not None and gone >= self.pages.timeout:
                    self._fire(
                        f"no browser page open for {self.pages.timeout:g} s", "browser"
                    )
                    return

            if self.idle_timeout is None:
                continue

            if self._in_flight():
                # A long request or a stream is activity while it runs.
                self.touch()
                continue

            idle = time.monotonic() - self.last_activity

            if idle >= self.idle_timeout:
                self._fire(f"no request for {self.idle_timeout:g} s", "idle")
                return

    def _fire(self, reason: str, source: str) -> None:
        logger.warning("Stopping by itself: %s.", reason)

        try:
            self._stop(reason, source)
        except Exception:
            logger.exception("The %s shutdown could not start.", source)


class ActivityMiddleware:
    """Notes the time of every request but those to ``ignore``.

    :param wsgi_app: The app's ``wsgi_app`` it wraps.
    :param watcher: Told of each request.
    :param ignore: Paths that are not activity.
    """

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        watcher: Watcher,
        ignore: cabc.Collection[str],
    ) -> None:
        self.wsgi_app = wsgi_app
        self.watcher = watcher
        self.ignore = frozenset(ignore)
        #: The environ of the first request: what the idle stop detects
        #: the server from.
        self.sample: WSGIEnvironment | None = None

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        if (environ.get("PATH_INFO") or "/").rstrip("/") not in self.ignore:
            self.watcher.touch()

        if self.sample is None:
            self.sample = environ

        return self.wsgi_app(environ, start_response)
