"""The registry of server adapters, and how one is chosen for a request.

``SHUTDOWN_STRATEGY`` is ``"auto"`` (detect from the request), the name of
an adapter, ``"signal"``/``"signal:NAME"``, or a callable that receives the
:class:`~flask_shutdown.ShutdownRecord` and stops the server itself.
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import typing as t

from . import _stop_signal
from . import gunicorn
from . import uwsgi
from .base import ServerAdapter
from .gunicorn import GunicornAdapter
from .signal import CallableAdapter
from .signal import SignalAdapter
from .testclient import TestClientAdapter
from .thread import ThreadAdapter
from .uwsgi import UwsgiAdapter
from .waitress import WaitressAdapter
from .werkzeug_legacy import LegacyHookAdapter
from .werkzeug_run import WerkzeugAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ._stop_signal import Receiver

logger = logging.getLogger(__name__)

#: Adapters by name, in the order ``"auto"`` tries them. The test client
#: comes last: it is recognised by what real servers set, not by a mark
#: of its own.
ADAPTERS: dict[str, type[ServerAdapter]] = {
    ThreadAdapter.name: ThreadAdapter,
    LegacyHookAdapter.name: LegacyHookAdapter,
    WerkzeugAdapter.name: WerkzeugAdapter,
    GunicornAdapter.name: GunicornAdapter,
    WaitressAdapter.name: WaitressAdapter,
    UwsgiAdapter.name: UwsgiAdapter,
    TestClientAdapter.name: TestClientAdapter,
}

#: What ``SHUTDOWN_STRATEGY`` may be.
Strategy = str | cabc.Callable[..., t.Any]


def prepare_process(
    on_exit: cabc.Callable[[], object],
    app: object = None,
    on_stop_signal: Receiver | None = None,
) -> None:
    """Per-process set-up at ``init_app``: on servers with several worker
    processes, the workers that did not serve ``POST /shutdown`` call
    ``on_exit`` (which runs the hooks once) when they exit; where the
    server's stop signal is made graceful (waitress's
    :func:`~flask_shutdown.adapters.waitress.graceful_sigterm`, uWSGI's
    routed SIGTERM), ``on_stop_signal`` runs the sequence of ``app``.
    """
    gunicorn.prepare(on_exit)
    uwsgi.prepare(on_exit)

    if on_stop_signal is not None:
        _stop_signal.register(app, on_stop_signal)
        uwsgi.route_stop_signal()


def master_process() -> int | None:
    """The pid of the master process of a server with several worker
    processes, when this process is one of its workers: the gunicorn
    arbiter, the uWSGI master. ``None`` for a single-process server.
    """
    worker = gunicorn.current_worker()

    if worker is not None:
        return int(worker.ppid)

    return uwsgi.master_pid()


def check_strategy(strategy: object) -> None:
    """Validate ``SHUTDOWN_STRATEGY``.

    :raises RuntimeError: Unknown name, or neither a name nor a callable.
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


def resolve(strategy: Strategy, environ: WSGIEnvironment | None) -> ServerAdapter:
    """Choose the adapter that stops the server serving ``environ``.

    Under Werkzeug's test client no server runs, so a named strategy
    (a server or a signal) would stop the wrong thing or the test process
    itself: the test client's adapter is used instead. A callable strategy
    is the app's own code and is called as configured.

    :raises RuntimeError: A named strategy does not apply to this request.
    """
    if callable(strategy):
        return CallableAdapter(strategy)

    test_client = TestClientAdapter.detect(environ)

    if test_client is not None:
        return test_client

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
