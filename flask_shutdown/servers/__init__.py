"""Server adapters, one module each, and how one is chosen for a request.

``SHUTDOWN_STRATEGY`` is ``"auto"`` (detect from the request), the name of
an adapter, ``"signal"``/``"signal:NAME"``, or a callable that receives the
:class:`~flask_shutdown.ShutdownRecord` and stops the server itself.
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import typing as t

from . import gunicorn
from . import uwsgi
from .base import ServerAdapter
from .gunicorn import GunicornAdapter
from .signal import CallableAdapter
from .signal import SignalAdapter
from .thread import ThreadAdapter
from .uwsgi import UwsgiAdapter
from .waitress import WaitressAdapter
from .werkzeug_legacy import LegacyHookAdapter
from .werkzeug_run import WerkzeugAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ..sequence import Coordinator

logger = logging.getLogger("flask_shutdown")

#: Adapters by name, in the order ``"auto"`` tries them.
ADAPTERS: dict[str, type[ServerAdapter]] = {
    ThreadAdapter.name: ThreadAdapter,
    LegacyHookAdapter.name: LegacyHookAdapter,
    WerkzeugAdapter.name: WerkzeugAdapter,
    GunicornAdapter.name: GunicornAdapter,
    WaitressAdapter.name: WaitressAdapter,
    UwsgiAdapter.name: UwsgiAdapter,
}


def prepare(coordinator: Coordinator) -> None:
    """Per-process set-up at ``init_app``: on servers with several worker
    processes, the workers that did not serve ``POST /shutdown`` run the
    teardown hooks when they exit.
    """
    gunicorn.prepare(coordinator)
    uwsgi.prepare(coordinator)


def check_strategy(strategy: str | cabc.Callable[..., t.Any]) -> None:
    """Validate ``SHUTDOWN_STRATEGY`` at ``init_app``.

    :raises RuntimeError: Unknown name.
    """
    if callable(strategy) or strategy == "auto" or strategy in ADAPTERS:
        return

    if isinstance(strategy, str) and strategy.split(":")[0] == "signal":
        SignalAdapter.from_spec(strategy)
        return

    known = ", ".join(repr(n) for n in ["auto", *ADAPTERS, "signal", "signal:NAME"])
    raise RuntimeError(
        f"Unknown SHUTDOWN_STRATEGY {strategy!r}. Use one of {known}, or a"
        " callable that stops the server."
    )


def resolve(
    strategy: str | cabc.Callable[..., t.Any], environ: WSGIEnvironment | None
) -> ServerAdapter:
    """Choose the adapter that stops the server serving ``environ``."""
    if callable(strategy):
        return CallableAdapter(strategy)

    if strategy.split(":")[0] == "signal":
        return SignalAdapter.from_spec(strategy)

    if strategy != "auto":
        return ADAPTERS[strategy].create(environ)

    for adapter_cls in ADAPTERS.values():
        adapter = adapter_cls.detect(environ)

        if adapter is not None:
            return adapter

    software = None if environ is None else environ.get("SERVER_SOFTWARE")
    logger.warning(
        "No server adapter recognises this server (SERVER_SOFTWARE %r); stopping"
        " it with SIGTERM to this process. Set SHUTDOWN_STRATEGY to choose how"
        " it is stopped.",
        software,
    )
    return SignalAdapter()
