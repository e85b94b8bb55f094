"""The ``shutdown_server`` and ``shutdown_server_factory`` fixtures, used
directly and from throwaway test files run by pytester.
"""

from __future__ import annotations

import pytest
import requests
from flask import Flask

from flask_shutdown import ServerThread
from flask_shutdown.pytest_plugin import ServerFactory

from .conftest import AppFactory
from .conftest import TOKEN

pytest_plugins = ["pytester"]


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()[0]


def test_serves_the_app_fixture(app: Flask, shutdown_server: ServerThread) -> None:
    assert shutdown_server.app is app
    assert shutdown_server.host == "127.0.0.1"
    assert shutdown_server.url == f"http://127.0.0.1:{shutdown_server.port}"
    assert requests.get(shutdown_server.url + "/", timeout=5).text == "ok"


def test_the_test_may_stop_it(shutdown_server: ServerThread) -> None:
    rv = requests.post(
        shutdown_server.url + "/shutdown",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert rv.status_code == 202
    shutdown_server.join(10)
    assert shutdown_server.stopped
    # Teardown finds it stopped and only joins.


def test_factory_stops_gracefully_in_reverse_order(
    make_app: AppFactory, shutdown_server_factory: ServerFactory
) -> None:
    """Run the factory fixture by hand to see its teardown: servers stop
    last-started first, with their hooks.
    """
    order: list[str] = []
    servers = []

    for name in ("first", "second"):
        app, shutdown = make_app()
        shutdown.teardown(lambda name=name: order.append(name))
        servers.append(shutdown_server_factory(app))

    assert all(requests.get(s.url + "/", timeout=5).ok for s in servers)
    assert len({s.port for s in servers}) == 2
    # Stop them the way the fixture's teardown does.
    from flask_shutdown.pytest_plugin import _stop

    for server in reversed(servers):
        _stop(server)

    assert order == ["second", "first"]
    assert all(s.stopped and not s.is_alive() for s in servers)


def test_factory_passes_arguments(shutdown_server_factory: ServerFactory) -> None:
    app = Flask("plain")
    app.add_url_rule("/", "i", lambda: "plain")
    server = shutdown_server_factory(app, threaded=False, name="custom")
    assert server.name == "custom"
    assert requests.get(server.url + "/", timeout=5).text == "plain"


def test_plain_wsgi_app(shutdown_server_factory: ServerFactory) -> None:
    """An app without the extension is just stopped at teardown."""

    def wsgi(environ: dict[str, object], start_response: object) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [b"wsgi"]

    server = shutdown_server_factory(wsgi)
    assert requests.get(server.url, timeout=5).text == "wsgi"


PYTESTER_CONFTEST = """
import threading
import time

import pytest
import requests
from flask import Flask

from flask_shutdown import Shutdown

EVENTS = []


@pytest.fixture
def app():
    app = Flask("pytester_app")
    app.config["SHUTDOWN_TOKENS"] = ["a-long-enough-test-token"]
    shutdown = Shutdown(app)

    @app.get("/slow")
    def slow():
        EVENTS.append("slow started")
        time.sleep(0.5)
        EVENTS.append("slow done")
        return "slow"

    @shutdown.teardown
    def hook():
        EVENTS.append("hook")

    return app
"""


def test_pytester_teardown_drains_and_runs_hooks(pytester: pytest.Pytester) -> None:
    """A request still running when the test ends completes (its client
    gets the full answer) before the hooks run and the server stops.
    """
    pytester.makeconftest(PYTESTER_CONFTEST)
    pytester.makepyfile(
        """
        import threading
        import time

        import requests

        from conftest import EVENTS

        ANSWERS = []


        def test_leaves_a_request_running(shutdown_server):
            def get():
                rv = requests.get(shutdown_server.url + "/slow", timeout=10)
                ANSWERS.append(rv.text)

            thread = threading.Thread(target=get)
            thread.start()
            test_leaves_a_request_running.thread = thread

            while "slow started" not in EVENTS:
                time.sleep(0.01)


        def test_after():
            test_leaves_a_request_running.thread.join(10)
            assert ANSWERS == ["slow"]
            assert EVENTS == ["slow started", "slow done", "hook"]
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_pytester_one_server_per_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PYTESTER_CONFTEST)
    pytester.makepyfile(
        """
        import requests

        from conftest import EVENTS

        PORTS = []


        def test_one(shutdown_server):
            PORTS.append(shutdown_server.port)


        def test_two(shutdown_server):
            PORTS.append(shutdown_server.port)
            # The first server stopped at the end of the first test.
            assert EVENTS == ["hook"]


        def test_ports():
            assert len(PORTS) == 2
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_pytester_without_app_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_needs_app(shutdown_server):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'app' not found*"])


def test_pytester_with_pytest_flask(pytester: pytest.Pytester) -> None:
    """Works next to pytest-flask, whose own fixture is ``live_server``."""
    pytester.makeconftest(PYTESTER_CONFTEST)
    pytester.makepyfile(
        """
        import requests


        def test_both(shutdown_server, client):
            assert client.get("/slow").data == b"slow"
            rv = requests.get(shutdown_server.url + "/slow", timeout=10)
            assert rv.text == "slow"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("flask_shutdown")
    assert plugin is not None
    assert plugin.__name__ == "flask_shutdown.pytest_plugin"


def test_pytester_server_that_does_not_stop(pytester: pytest.Pytester) -> None:
    """A server still alive after the wait is a teardown error, not a
    hang; the other servers are still stopped.
    """
    pytester.makepyfile(
        """
        from flask import Flask

        import flask_shutdown.pytest_plugin


        # A child process of its own: no need to undo this.
        flask_shutdown.pytest_plugin.JOIN_TIMEOUT = 0.1


        def test_stuck(shutdown_server_factory):
            other = shutdown_server_factory(Flask("other"))
            stuck = shutdown_server_factory(Flask("stuck"))
            # Never stops: the teardown's graceful stop does nothing.
            stuck.shutdown = lambda reason: None
            test_stuck.other = other


        def test_other_was_stopped():
            assert test_stuck.other.stopped
        """
    )
    # In a child process: the stuck server thread dies with it.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*did not stop within 0.1 s*"])


def test_pytester_failing_hook_fails_the_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from flask import Flask

        from flask_shutdown import Shutdown


        @pytest.fixture
        def app():
            app = Flask("hooked")
            app.config["SHUTDOWN_TOKENS"] = ["a-long-enough-test-token"]
            shutdown = Shutdown(app)

            @shutdown.teardown
            def close_db():
                raise ConnectionError("database is gone")

            return app


        def test_fails_at_teardown(shutdown_server):
            pass


        @pytest.mark.shutdown_failures_warn
        def test_warns_at_teardown(shutdown_server):
            pass
        """
    )
    # -W default: the outer run turns warnings into errors.
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA", "-W", "default")
    result.assert_outcomes(passed=2, errors=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_fails_at_teardown*",
            "*stopped with exit code 1 (HOOK_FAILED)*",
            "*hook 'app.<locals>.close_db': error: ConnectionError: database is gone*",
            "*ShutdownFailedWarning*",
        ]
    )


def test_pytester_app_is_running_again_after_a_stop(pytester: pytest.Pytester) -> None:
    """A session-wide app stopped by one test's server serves the next
    test; the marker keeps it stopped when a test wants that.
    """
    pytester.makepyfile(
        """
        import pytest
        import requests
        from flask import Flask

        from flask_shutdown import Shutdown

        TOKEN = "a-long-enough-test-token"


        @pytest.fixture(scope="session")
        def app():
            app = Flask("shared")
            app.config["SHUTDOWN_TOKENS"] = [TOKEN]
            Shutdown(app)
            app.get("/")(lambda: "ok")
            return app


        def test_stops_its_server(shutdown_server):
            rv = requests.post(
                shutdown_server.url + "/shutdown",
                headers={"Authorization": "Bearer " + TOKEN},
                timeout=10,
            )
            assert rv.status_code == 202


        def test_app_serves_again(app):
            assert app.test_client().get("/").status_code == 200


        @pytest.mark.shutdown_keep_stopped
        def test_keeps_it_stopped(shutdown_server):
            pass


        def test_app_is_still_stopped(app):
            assert app.test_client().get("/").status_code == 503
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_pytester_session_scope(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        shutdown_server_scope = session
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from flask import Flask

        from flask_shutdown import Shutdown

        SERVERS = []


        @pytest.fixture(scope="session")
        def app():
            app = Flask("session")
            app.config["SHUTDOWN_TOKENS"] = ["a-long-enough-test-token"]
            Shutdown(app)
            return app


        def test_one(shutdown_server):
            SERVERS.append(shutdown_server)


        def test_two(shutdown_server):
            SERVERS.append(shutdown_server)
            assert SERVERS[0] is SERVERS[1]
            assert not shutdown_server.stopped
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_pytester_pytest_flask_client_does_not_hold_the_drain(
    pytester: pytest.Pytester,
) -> None:
    """Unread responses of pytest-flask's ``client`` used to count as in
    flight until SHUTDOWN_DRAIN_TIMEOUT (30 s); now a drain that timed out
    would fail the teardown, so a clean pass shows it did not.
    """
    pytester.makeconftest(PYTESTER_CONFTEST)
    pytester.makepyfile(
        """
        def test_client_then_server(client, shutdown_server):
            client.get("/slow")
            client.get("/slow", buffered=False)
            assert shutdown_server.url
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
