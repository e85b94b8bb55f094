"""pytest fixtures that serve a Flask app on a real socket, in a thread of
the test process, and stop it gracefully at teardown.

The plugin is registered through the ``pytest11`` entry point, so the
fixtures are available once Flask-Shutdown is installed:

``shutdown_server``
    Serves the ``app`` fixture that the test suite defines (the same
    convention as pytest-flask) and yields the running
    :class:`~flask_shutdown.ServerThread`; ``shutdown_server.url`` is its
    base URL.
``shutdown_server_factory``
    A function ``start(app, **kwargs)`` that serves any app, for tests that
    need several servers or a non-default ``ServerThread`` argument.

Both are function scoped unless the ``shutdown_server_scope`` ini option
names a wider scope (``module``, ``package`` or ``session``; the ``app``
fixture must then be at least as wide).

At teardown each server still running gets
:meth:`ServerThread.shutdown() <flask_shutdown.ServerThread.shutdown>`:
requests in flight complete and teardown hooks run before the socket
closes. A failed hook or a drain that timed out fails the test's teardown,
with the hook names, their errors and the exit code in the message; the
``shutdown_failures_warn`` marker turns that into a
:class:`ShutdownFailedWarning`. Afterwards the app is back to ``running``,
so later tests that use it (with the test client, say) are not refused,
unless the test has the ``shutdown_keep_stopped`` marker.
"""

from __future__ import annotations

import collections.abc as cabc
import typing as t
import warnings

import pytest

# Importing Flask-Shutdown (and so Flask) is left to the fixtures: pytest
# loads this plugin in every test run of every project that has the package
# installed, and most of those runs never use it.
if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .record import ShutdownRecord
    from .server import ServerThread

#: How long teardown waits for the serving thread once the server stopped.
JOIN_TIMEOUT = 10.0

#: The ini option that sets the scope of the fixtures.
SCOPE_OPTION = "shutdown_server_scope"


class ShutdownFailedWarning(UserWarning):
    """A server stopped by a fixture reported a failed hook or a drain
    timeout, in a test marked ``shutdown_failures_warn``.
    """


class ServerFactory(t.Protocol):
    """The type of the ``shutdown_server_factory`` fixture: call it with
    an app and :class:`~flask_shutdown.ServerThread` keyword arguments.
    Import it for annotations with
    ``from flask_shutdown.pytest_plugin import ServerFactory``.
    """

    def __call__(self, app: WSGIApplication, **kwargs: t.Any) -> ServerThread: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        SCOPE_OPTION,
        "Scope of the shutdown_server and shutdown_server_factory fixtures:"
        " function (the default), class, module, package or session.",
        default="function",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shutdown_keep_stopped: leave the app stopped after the fixture's"
        " server stops, instead of returning it to running.",
    )
    config.addinivalue_line(
        "markers",
        "shutdown_failures_warn: a failed hook or drain timeout when the"
        " fixture's server stops warns instead of failing the teardown.",
    )


_Scope = t.Literal["session", "package", "module", "class", "function"]
_SCOPES: tuple[_Scope, ...] = t.get_args(_Scope)


def _scope(fixture_name: str, config: pytest.Config) -> _Scope:
    value = str(config.getini(SCOPE_OPTION)).strip()

    for scope in _SCOPES:
        if value == scope:
            return scope

    raise pytest.UsageError(
        f"{SCOPE_OPTION} must be one of {', '.join(_SCOPES)}, not {value!r}."
    )


def _stop(server: ServerThread) -> ShutdownRecord | None:
    record: ShutdownRecord | None = None

    if not server.stopped:
        record = server.shutdown("pytest fixture teardown")

    server.join(JOIN_TIMEOUT)

    if server.is_alive():
        raise RuntimeError(
            f"The server at {server.url} did not stop within {JOIN_TIMEOUT} s."
        )

    if record is None:
        # Stopped by the test itself (POST /shutdown): report that one.
        from .state import find_state

        state = find_state(server.app)

        if state is not None:
            state.coordinator.wait(JOIN_TIMEOUT)
            record = state.coordinator.record

    return record


def _failure(server: ServerThread, record: ShutdownRecord | None) -> str | None:
    """What went wrong in ``record``, or ``None``."""
    if record is None or (
        not record.drain_timed_out and all(r.ok for r in record.hooks)
    ):
        return None

    lines = [
        f"The server at {server.url} stopped with exit code"
        f" {int(record.exit_code)} ({record.exit_code.name}):"
    ]

    for result in record.hooks:
        if not result.ok:
            lines.append(f"  hook {result.name!r}: {result.status}: {result.error}")

    if record.drain_timed_out:
        lines.append(
            "  the drain timed out with requests still running: "
            + "; ".join(record.still_running)
        )

    return "\n".join(lines)


def _restore(server: ServerThread) -> None:
    from .state import find_state

    state = find_state(server.app)

    if state is not None:
        state.coordinator.reset()


@pytest.fixture(scope=_scope)
def shutdown_server_factory(
    request: pytest.FixtureRequest,
) -> cabc.Iterator[ServerFactory]:
    """Start servers with ``shutdown_server_factory(app, **kwargs)``; the
    keyword arguments go to :class:`~flask_shutdown.ServerThread` (the
    default host is ``127.0.0.1`` and the port is picked free). Each one
    is running and listening when the call returns, and is stopped
    gracefully at teardown, the last one started first.
    """
    from .server import ServerThread

    started: list[ServerThread] = []

    def start(app: WSGIApplication, **kwargs: t.Any) -> ServerThread:
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("port", 0)
        server = ServerThread(app, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start

    keep_stopped = request.node.get_closest_marker("shutdown_keep_stopped")
    warn = request.node.get_closest_marker("shutdown_failures_warn")
    errors: list[Exception] = []
    failures: list[str] = []

    for server in reversed(started):
        try:
            failure = _failure(server, _stop(server))
        except Exception as e:
            errors.append(e)
            continue

        if failure is not None:
            failures.append(failure)

        if not keep_stopped:
            _restore(server)

    if errors:
        raise errors[0]

    for failure in failures:
        if warn:
            warnings.warn(ShutdownFailedWarning(failure), stacklevel=1)
        else:
            pytest.fail(failure, pytrace=False)


@pytest.fixture(scope=_scope)
def shutdown_server(
    app: WSGIApplication, shutdown_server_factory: ServerFactory
) -> ServerThread:
    """The ``app`` fixture served on ``127.0.0.1`` at a free port. Use
    ``shutdown_server.url`` as the base URL.
    """
    return shutdown_server_factory(app)
