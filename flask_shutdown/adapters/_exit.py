"""Ending the process with the shutdown's exit code, for servers whose own
way of stopping ends it with 0.

``flask run`` returns normally (or, under the reloader, calls
``sys.exit(0)`` from its SIGTERM handler) and ``waitress-serve`` returns 0
once its loop is over. Neither offers a way to pass another code, and
the code that calls them is not ours. So before the server is told to
stop, an :mod:`atexit` handler is registered that runs at the very end of
the process. It first waits (briefly) for the shutdown sequence, which
runs in a daemon thread, to record and log the stop: the main thread may
get there first, and the process would end without the last log line.
Then, for a code other than 0, it runs every other exit handler (in the
order Python would have), flushes the standard streams, and ends the
process with :func:`os._exit` and the code. Code after the server call
(``app.run()``, ``waitress.serve(app)``) still runs before all this.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

logger = logging.getLogger(__name__)

#: The longest the process waits at exit for the sequence to finish
#: recording the stop.
FINISH_TIMEOUT = 5.0

_lock = threading.Lock()
_pending: tuple[int, threading.Event] | None = None


def exit_with(code: int, finished: threading.Event) -> None:
    """End this process with ``code`` when it exits, whatever code the
    server ends it with, once ``finished`` is set (or after
    :data:`FINISH_TIMEOUT`). A later call replaces an earlier one.
    """
    global _pending

    with _lock:
        first = _pending is None
        _pending = (code, finished)

    if first:
        atexit.register(_exit)

    if code:
        logger.info("The process will exit with code %d.", code)


def _exit() -> None:
    if _pending is None:  # pragma: no cover - registered only with one
        return

    code, finished = _pending
    finished.wait(FINISH_TIMEOUT)

    if not code:
        return

    # Registered last, so it runs first: let the handlers registered
    # before it (logging's flush, the app's own) run now, as they would
    # have, since os._exit skips them.
    atexit.unregister(_exit)
    atexit._run_exitfuncs()

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass

    os._exit(code)
