"""Ending the process with the shutdown's exit code, for servers whose own
way of stopping ends it with 0.

``flask run`` returns normally (or, under the reloader, calls
``sys.exit(0)`` from its SIGTERM handler) and ``waitress-serve`` returns 0
once its loop is over. Neither offers a way to pass another code, and
the code that calls them is not ours. So once the server has been told
to stop, an :mod:`atexit` handler is registered that runs at the very
end of the process: it runs every other exit handler first (in the order
Python would have run them), flushes the standard streams, and ends the
process with :func:`os._exit` and the code. Code after the server call
(``app.run()``, ``waitress.serve(app)``) still runs before it.

Nothing is registered for exit code 0: the process ends as the server
ends it.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_code: int | None = None


def exit_with(code: int) -> None:
    """End this process with ``code`` when it exits, whatever code the
    server ends it with. Called at most once per shutdown; a later call
    replaces the code of an earlier one.
    """
    global _code

    if code == 0:
        return

    with _lock:
        first = _code is None
        _code = code

    if first:
        atexit.register(_exit)


def _exit() -> None:
    code = _code

    if code is None:  # pragma: no cover - registered only with a code
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
