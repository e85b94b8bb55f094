from __future__ import annotations

import collections.abc as cabc
import typing as t
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.security import generate_password_hash

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

#: A static bearer secret used across the tests.
TOKEN = "test-token-0123456789abcdef"
USER = "ops"
PASSWORD = "correct horse battery staple"
#: Computed once: password hashing is deliberately slow.
PASSWORD_HASH = generate_password_hash(PASSWORD)
SECRET_KEY = "a-test-secret-key-that-is-long-enough"


@pytest.fixture(autouse=True)
def _reset_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reloader or Flask CLI variable left by one test must not change
    # how the next one runs.
    for key in (
        "WERKZEUG_RUN_MAIN",
        "WERKZEUG_SERVER_FD",
        "FLASK_APP",
        "FLASK_DEBUG",
        # Set by the flask command; app.run() returns at once while it is.
        "FLASK_RUN_FROM_CLI",
    ):
        monkeypatch.delenv(key, raising=False)


class AppFactory(t.Protocol):
    def __call__(self, **config: t.Any) -> tuple[Flask, Shutdown]: ...


@pytest.fixture
def make_app() -> AppFactory:
    """Build an app with the extension: ``make_app(SHUTDOWN_X=...)``.

    Defaults: one static token, one Basic user, and a ``/slow?s=SECONDS``
    view for in-flight tests.
    """

    def factory(**config: t.Any) -> tuple[Flask, Shutdown]:
        app = Flask("flask_shutdown_test")
        app.config.update(
            TESTING=True,
            SHUTDOWN_TOKENS=[TOKEN],
            SHUTDOWN_USERS={USER: PASSWORD_HASH},
        )
        app.config.update(config)

        @app.get("/")
        def index() -> str:
            return "ok"

        @app.get("/slow")
        def slow() -> str:
            import time

            from flask import request

            time.sleep(float(request.args.get("s", "0.3")))
            return "slow done"

        return app, Shutdown(app)

    return factory


@pytest.fixture
def serve() -> cabc.Iterator[cabc.Callable[[Flask], ServerThread]]:
    """Start apps on :class:`ServerThread`; any still running at the end of
    the test is stopped without ceremony.
    """
    started: list[ServerThread] = []

    def start(app: Flask, **kwargs: t.Any) -> ServerThread:
        server = ServerThread(app, "127.0.0.1", 0, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start

    for server in started:
        server.stop_serving()
        server.join(5)
        assert not server.is_alive()


@pytest.fixture(scope="session")
def docs_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML docs, built once per session the way the test command
    builds them (warnings are errors).
    """
    from ._site import build_html

    return build_html(tmp_path_factory.mktemp("docs") / "html")
