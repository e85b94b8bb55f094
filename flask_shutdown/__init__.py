"""Flask-Shutdown: an authenticated ``POST /shutdown`` that drains requests,
runs teardown hooks and stops the server.

The public names are imported when first used, not when the package is:
pytest loads :mod:`flask_shutdown.pytest_plugin` in every test run of
every project that has the package installed, and importing a submodule
runs this file first. Importing Flask and the whole package there would
slow down all those runs for nothing.
"""

from __future__ import annotations

import importlib
import typing as t

if t.TYPE_CHECKING:
    from .extension import Shutdown as Shutdown
    from .hooks import HookResult as HookResult
    from .record import ExitCode as ExitCode
    from .record import Phase as Phase
    from .record import ShutdownRecord as ShutdownRecord
    from .refusals import ShutdownRefused as ShutdownRefused
    from .server import ServerThread as ServerThread
    from .serving import serve as serve
    from .signals import attempt_answered as attempt_answered
    from .signals import hooks_done as hooks_done
    from .signals import shutdown_requested as shutdown_requested
    from .signals import shutdown_stopped as shutdown_stopped

#: Public name -> the module that defines it.
_EXPORTS = {
    "Shutdown": ".extension",
    "HookResult": ".hooks",
    "ExitCode": ".record",
    "Phase": ".record",
    "ShutdownRecord": ".record",
    "ShutdownRefused": ".refusals",
    "ServerThread": ".server",
    "serve": ".serving",
    "attempt_answered": ".signals",
    "hooks_done": ".signals",
    "shutdown_requested": ".signals",
    "shutdown_stopped": ".signals",
}


def __getattr__(name: str) -> t.Any:
    module = _EXPORTS.get(name)

    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
