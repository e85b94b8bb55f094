"""Test servers (D): the ``shutdown_server`` fixture's engine against
pytest-flask's ``LiveServer``, in this process and in real pytest
sessions.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

from flask_shutdown import ServerThread

from .app import create_app
from .common import EVENT_LOG_ENV
from .common import HOST
from .common import perf
from .common import ROOT
from .inflight import Start
from .net import free_port
from .net import wait_ready
from .procs import child_env
from .procs import exit_time
from .procs import log_tail
from .procs import quiet_fds
from .procs import release
from .procs import spawn
from .procs import track_fork
from .runner import progress
from .runner import Row
from .runner import Run
from .runner import Running

#: The server fixture of Flask-Shutdown's pytest plugin.
PLUGIN_FIXTURE = "shutdown_server"


def plugin_missing() -> str | None:
    """Why D3 cannot run, or ``None``."""
    try:
        from flask_shutdown import pytest_plugin
    except ImportError:
        return "not run: the flask_shutdown pytest plugin is missing"

    if not hasattr(pytest_plugin, PLUGIN_FIXTURE):
        return "not run: the flask_shutdown pytest plugin has no server fixture"

    return None


def live_server_trial(run: Run) -> dict[str, float]:
    """D2: ``LiveServer.start()`` (a forked ``app.run``), then ``stop()``."""
    from pytest_flask.live_server import LiveServer

    app = create_app()
    port = free_port()

    with quiet_fds(run.logpath("live-server")):
        t0 = perf()
        ls = LiveServer(app, HOST, port, 10, clean_stop=True)
        ls.start()
        track_fork(ls._process)
        ready = wait_ready(port, t0)
        run.idle_phase()
        t1 = perf()
        ls.stop()
        stop = perf() - t1

    if ls._process.is_alive():
        ls._process.kill()
        raise RuntimeError("The LiveServer process was alive after stop().")

    return {"ready": ready, "stop": stop}


def ours_start(env: dict[str, str]) -> Running:
    """D1 in flight: a ``ServerThread`` in this process, stopped by
    ``shutdown()``.
    """
    os.environ[EVENT_LOG_ENV] = env[EVENT_LOG_ENV]
    server = ServerThread(create_app(), HOST, 0)
    server.start()
    wait_ready(server.port, perf())

    def finish(timeout: float) -> tuple[float | None, float | None]:
        server.join(timeout)
        stopped = None if server.is_alive() else perf()
        server.stop_serving()
        os.environ.pop(EVENT_LOG_ENV, None)
        return stopped, None

    return Running(server.port, server.shutdown, finish)


def live_server_start(run: Run) -> Start:
    """D2 in flight: a ``LiveServer``, stopped by ``stop()``."""

    def start(env: dict[str, str]) -> Running:
        from pytest_flask.live_server import LiveServer

        os.environ[EVENT_LOG_ENV] = env[EVENT_LOG_ENV]
        port = free_port()

        with quiet_fds(run.logpath("live-server-inflight")):
            ls = LiveServer(create_app(), HOST, port, 10, clean_stop=True)
            ls.start()

        process = ls._process
        track_fork(process)
        wait_ready(port, perf())

        def finish(timeout: float) -> tuple[float | None, float | None]:
            process.join(timeout)
            alive = process.is_alive()
            at = None if alive else perf()

            if alive:
                process.kill()

            os.environ.pop(EVENT_LOG_ENV, None)
            return at, at

        return Running(port, ls.stop, finish)

    return start


_CONFTEST = """\
import json
import os

import pytest

from bench.app import create_app

@pytest.fixture(scope="session")
def app():
    return create_app()

_rows = []

def pytest_runtest_logreport(report):
    _rows.append([report.when, report.duration, report.outcome])

def pytest_sessionfinish(session):
    with open(os.environ["BENCH_PYTEST_OUT"], "w") as f:
        json.dump(_rows, f)
"""


def pytest_session(run: Run, row: Row, fixture: str) -> None:
    """D3/D4: a real pytest run of ``3 * trials`` tests that each use
    ``fixture`` at function scope; the setup and teardown phase durations
    are the samples. Only the plugin that provides the fixture is loaded,
    and ``app`` is session-scoped, so the phases time the server fixture
    itself.
    """
    d = run.tmp / f"pytest-{row.key}"
    d.mkdir(exist_ok=True)
    out = d / "durations.json"
    pytest_flask = fixture == "live_server"
    ini = "[pytest]\n"

    if pytest_flask:
        ini += "live_server_scope = function\n"

    (d / "pytest.ini").write_text(ini)
    (d / "conftest.py").write_text(_CONFTEST)
    (d / "test_live.py").write_text(
        textwrap.dedent(
            f"""\
            import http.client

            import pytest

            @pytest.mark.parametrize("i", range({3 * run.trials}))
            def test_live({fixture}, i):
                port = {fixture}.port
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/", headers={{"Connection": "close"}})
                r = c.getresponse()
                assert r.status == 200 and r.read() == b"ok"
                c.close()
            """
        )
    )
    env = child_env(
        {
            "BENCH_PYTEST_OUT": str(out),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            ),
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:flask_shutdown" if pytest_flask else "no:flask",
        *(["--live-server-host", HOST] if pytest_flask else []),
        "--rootdir",
        str(d),
        str(d),
    ]
    log = run.logpath(f"pytest-{row.key}")
    t0 = perf()
    proc = spawn(cmd, log, env, cwd=d)
    at = exit_time(proc, min(90, max(10, run.left())))
    release(proc)

    if at is None:
        row.skipped = "the pytest session timed out"
        return

    rc = proc.returncode
    wall = at - t0

    try:
        reports = json.loads(out.read_text())
    except (OSError, ValueError):
        reports = []

    row.samples["ready"] = [r[1] for r in reports if r[0] == "setup"]
    row.samples["stop"] = [r[1] for r in reports if r[0] == "teardown"]
    bad = [r for r in reports if r[2] != "passed"]
    row.notes.append(
        f"pytest exit code {rc}, {len(row.samples['ready'])} tests, whole"
        f" session {wall:.2f} s; start = setup phase, stop = teardown phase"
    )

    if bad or rc != 0:
        row.notes.append(f"{len(bad)} phases not passed: {log_tail(log, 3)}")

    progress(f"{row.key}: pytest session done")
