"""Real servers started from the command line as subprocesses (E): gunicorn,
``flask run``, waitress and uWSGI, each stopped by its usual signal and by
``POST /shutdown``. To add a server, add its command and its two entries
to :data:`REAL_SERVERS`.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import functools
import signal
import sys
import threading
import time
from pathlib import Path

from .common import has_module
from .common import HOST
from .common import perf
from .common import pkg_version
from .inflight import post_trigger
from .inflight import Start
from .net import wait_for_port
from .net import wait_ready
from .procs import alive
from .procs import child_env
from .procs import exit_time
from .procs import log_tail
from .procs import release
from .procs import spawn
from .runner import Run
from .runner import Running

#: The app, as the servers import it from the repository root.
APP = "bench.app:create_app"


@functools.cache
def gunicorn_control_socket() -> bool:
    """Whether this gunicorn has ``--control-socket`` (25+), which opens
    a socket under ``$HOME`` unless told otherwise.
    """
    from gunicorn.config import KNOWN_SETTINGS

    return any(s.name == "control_socket" for s in KNOWN_SETTINGS)


def gunicorn_cmd(run: Run) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--bind",
        f"{HOST}:0",
    ]

    if gunicorn_control_socket():
        cmd += ["--control-socket", str(run.logpath("gunicorn").with_suffix(".ctl"))]

    return [*cmd, f"{APP}()"]


def gunicorn_sigterm_cmd(run: Run) -> list[str]:
    """gunicorn with the shipped example configuration, whose
    ``graceful_sigterm`` hook makes SIGTERM run the graceful sequence.
    """
    config = Path(__file__).resolve().parent.parent / "examples" / "gunicorn.conf.py"
    cmd = gunicorn_cmd(run)
    return [*cmd[:3], "-c", str(config), *cmd[3:]]


def flask_run_cmd(run: Run) -> list[str]:
    return [
        sys.executable,
        "-m",
        "flask",
        "--app",
        APP,
        "run",
        "--host",
        HOST,
        "--port",
        "0",
        "--no-reload",
    ]


def waitress_cmd(run: Run) -> list[str]:
    return [sys.executable, "-m", "waitress", f"--listen={HOST}:0", "--call", APP]


def waitress_sigterm_cmd(run: Run) -> list[str]:
    """waitress with an app factory that calls ``graceful_sigterm()`` in
    the main thread first, which makes SIGTERM run the graceful sequence.
    """
    cmd = waitress_cmd(run)
    return [*cmd[:-1], f"{APP}_graceful_sigterm"]


def uwsgi_sigterm_cmd(run: Run) -> list[str]:
    """uWSGI with the master's SIGTERM routed to a worker, as in
    ``examples/uwsgi.ini``: that worker runs the graceful sequence.
    """
    return [
        *uwsgi_cmd(run),
        "--hook-master-start",
        "unix_signal:15 uwsgi_route_signal",
    ]


def uwsgi_cmd(run: Run) -> list[str]:
    # The master FIFO is uWSGI's one graceful stop; POST /shutdown writes
    # "q" to it. The stopper thread needs --enable-threads.
    fifo = run.logpath("uwsgi").with_suffix(".fifo")
    return [
        str(Path(sys.executable).parent / "uwsgi"),
        "--master",
        "--processes",
        "2",
        "--http-socket",
        f"{HOST}:0",
        "--module",
        f"{APP}()",
        "--need-app",
        "--enable-threads",
        "--master-fifo",
        str(fifo),
    ]


@dataclasses.dataclass(frozen=True)
class RealServer:
    """A server command line and how it is stopped: one row of table E and
    one of its in-flight table.
    """

    key: str
    label: str
    #: The distribution that provides the server.
    package: str
    cmd: cabc.Callable[[Run], list[str]]
    #: The signal that stops it, or ``None`` for ``POST /shutdown``.
    sig: signal.Signals | None
    #: The module under ``flask_shutdown.adapters`` that the POST needs.
    adapter: str | None = None
    #: A log line to wait for, and how many times, before it counts as up.
    ready_marker: tuple[str, int] | None = None

    @property
    def per_trial_s(self) -> float:
        """Budget a trial needs: gunicorn boots two workers."""
        return 6.0 if self.package == "gunicorn" else 3.0

    def missing(self) -> str | None:
        """Why the row cannot run here, or ``None``."""
        module = f"flask_shutdown.adapters.{self.adapter}" if self.adapter else None

        if pkg_version(self.package) is None:
            return f"not run: {self.package} not installed"

        if module is not None and not has_module(module):
            return f"not run: adapter missing ({module})"

        return None


_GUNICORN = ("Booting worker", 2)
_UWSGI = ("spawned uWSGI worker", 2)
_POST = None

#: Table E, in the order it runs.
REAL_SERVERS = [
    RealServer(
        "E1",
        "gunicorn 2 sync workers, SIGTERM",
        "gunicorn",
        gunicorn_cmd,
        signal.SIGTERM,
        ready_marker=_GUNICORN,
    ),
    RealServer(
        "E2",
        "gunicorn 2 sync workers, POST /shutdown",
        "gunicorn",
        gunicorn_cmd,
        _POST,
        "gunicorn",
        _GUNICORN,
    ),
    RealServer(
        "E9",
        "gunicorn 2 sync, SIGTERM, graceful_sigterm",
        "gunicorn",
        gunicorn_sigterm_cmd,
        signal.SIGTERM,
        "gunicorn",
        _GUNICORN,
    ),
    RealServer("E3", "flask run, SIGINT", "flask", flask_run_cmd, signal.SIGINT),
    RealServer(
        "E4", "flask run, POST /shutdown", "flask", flask_run_cmd, _POST, "werkzeug_run"
    ),
    RealServer("E5", "waitress-serve, SIGINT", "waitress", waitress_cmd, signal.SIGINT),
    RealServer(
        "E6",
        "waitress-serve, POST /shutdown",
        "waitress",
        waitress_cmd,
        _POST,
        "waitress",
    ),
    RealServer(
        "E10",
        "waitress-serve, SIGTERM, graceful_sigterm",
        "waitress",
        waitress_sigterm_cmd,
        signal.SIGTERM,
        "waitress",
    ),
    RealServer(
        "E7",
        "uWSGI --master, 2 workers, SIGINT",
        "uwsgi",
        uwsgi_cmd,
        signal.SIGINT,
        ready_marker=_UWSGI,
    ),
    RealServer(
        "E8",
        "uWSGI --master, 2 workers, POST /shutdown",
        "uwsgi",
        uwsgi_cmd,
        _POST,
        "uwsgi",
        _UWSGI,
    ),
    RealServer(
        "E11",
        "uWSGI --master, 2 workers, SIGTERM, routed",
        "uwsgi",
        uwsgi_sigterm_cmd,
        signal.SIGTERM,
        "uwsgi",
        _UWSGI,
    ),
]


def process_start(run: Run, spec: RealServer) -> Start:
    """Start the server of ``spec``; its trigger sends its signal or, for
    a ``POST`` row, ``POST /shutdown`` from a client thread.
    """

    def start(env: dict[str, str]) -> Running:
        log = run.logpath(f"{spec.key}-{spec.package}")
        t0 = perf()
        # Port 0: the server picks a free port and prints its URL, so no
        # other program can take the port between a check and the bind.
        p = spawn(spec.cmd(run), log, env)

        try:
            port = wait_for_port(log, t0 + 30, alive=alive(p))
            wait_ready(port, t0, timeout=30, alive=alive(p))

            if spec.ready_marker is not None:
                text, count = spec.ready_marker
                deadline = perf() + 10

                while perf() < deadline and p.output().count(text) < count:
                    time.sleep(0.02)
        except Exception as e:
            release(p)
            raise RuntimeError(f"{e} Log: {log_tail(log)}") from None

        ready = perf() - t0
        outcomes: list[str] = []
        threads: list[threading.Thread] = []
        post = post_trigger(port, outcomes, threads)

        def trigger() -> None:
            if spec.sig is None:
                post()
            else:
                p.popen.send_signal(spec.sig)

        def finish(timeout: float) -> tuple[float | None, float | None]:
            at = exit_time(p, timeout)
            release(p)
            return at, at

        return Running(port, trigger, finish, outcomes, threads, log, ready)

    return start


def idle_trial(run: Run, start: Start) -> dict[str, float]:
    """E: start a server, wait 0 to 0.5 s, trigger the stop and time it
    until the process exited.
    """
    running = start(child_env())
    run.idle_phase()
    t1 = perf()
    running.trigger()
    _, exited_at = running.finish(40)
    running.wait_trigger(5)

    log = log_tail(running.log, 4)

    if exited_at is None:
        raise RuntimeError(f"The server did not exit within 40 s. Log: {log}")

    if running.trigger_outcomes and running.trigger_outcomes[0] != "http-202":
        raise RuntimeError(
            f"POST /shutdown got {running.trigger_outcomes[0]}. Log: {log}"
        )

    assert running.ready is not None
    return {"ready": running.ready, "stop": exited_at - t1}
