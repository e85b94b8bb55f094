"""What the extension costs when nothing is being stopped (G): per request
for a hello-world app without and with ``Shutdown(app)``, in process and
over HTTP, and the start-up of a pytest run with and without the plugin.

Each row measures its two variants in alternating order (``a b``, ``b a``,
...), so that a drift of the machine during the row falls on both; the
samples are ``base``, ``ext`` and ``diff`` (``ext - base`` of the same
round), in seconds per request or per pytest run. G1 and G3 also keep
the CPU time of each round (``base_cpu``, ``ext_cpu``): it leaves out the
time spent waiting for a CPU, so other work on the machine moves it less.
"""

from __future__ import annotations

import collections.abc as cabc
import http.client
import re
import resource
import sys
import time
import typing as t

from werkzeug.test import EnvironBuilder

from .app import hello_app
from .common import HOST
from .common import perf
from .net import wait_ready
from .procs import child_env
from .procs import exit_time
from .procs import Harness
from .procs import log_tail
from .procs import release
from .procs import spawn
from .runner import progress
from .runner import Row
from .runner import Run

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

#: Rounds per variant of the per-request rows.
ROUNDS = 7
#: WSGI calls per round in process.
CALLS = 20_000
#: HTTP requests per round.
REQUESTS = 2_000
#: pytest runs per variant.
PYTEST_RUNS = 10
#: A round of HTTP requests that takes longer than this is a failure.
HTTP_ROUND_TIMEOUT = 60.0


def alternate(
    run: Run,
    row: Row,
    rounds: int,
    per_round_s: float,
    base: cabc.Callable[[], float],
    ext: cabc.Callable[[], float],
) -> None:
    """Measure ``base`` and ``ext`` once per round, in alternating order,
    into the samples ``base``, ``ext`` and ``diff``. No round starts with
    less than ``per_round_s`` of the budget left; a failure ends the row
    with a note.
    """
    for i in range(rounds):
        if run.left() < per_round_s:
            row.notes.append(f"time budget hit after {i} rounds")
            break

        try:
            if i % 2 == 0:
                b = base()
                e = ext()
            else:
                e = ext()
                b = base()
        except Exception as exc:
            row.notes.append(f"round {i + 1} failed: {type(exc).__name__}: {exc}")
            break

        row.samples["base"].append(b)
        row.samples["ext"].append(e)
        row.samples["diff"].append(e - b)

    progress(f"{row.key}: {len(row.samples['diff'])} rounds done")


# -- per request, in process ---------------------------------------------------


def _write(data: bytes) -> None:
    pass


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
) -> cabc.Callable[[bytes], None]:
    return _write


def wsgi_round(
    app: WSGIApplication,
    environ: WSGIEnvironment,
    n: int,
    cpu: list[float] | None = None,
) -> float:
    """Call ``app`` ``n`` times as a server would, consuming and closing
    each body; return the seconds per call, and append the CPU seconds per
    call of this thread to ``cpu``. Each call gets a copy of ``environ``:
    the app writes into it.
    """
    start_response = _start_response
    c0 = time.thread_time()
    t0 = perf()

    for _ in range(n):
        body = app(environ.copy(), start_response)

        for _chunk in body:
            pass

        close = getattr(body, "close", None)

        if close is not None:
            close()

    elapsed = perf() - t0

    if cpu is not None:
        cpu.append((time.thread_time() - c0) / n)

    return elapsed / n


def check_wsgi(
    app: WSGIApplication, environ: WSGIEnvironment, expect: bytes | None = b"ok"
) -> None:
    """Make sure ``app`` answers ``200`` with ``expect`` (``None``: any
    body): an error page would be timed otherwise.
    """
    got: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
    ) -> cabc.Callable[[bytes], None]:
        got.append(status)
        return _write

    body = app(environ.copy(), start_response)

    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)

        if close is not None:
            close()

    if got != ["200 OK"] or expect not in (None, data):
        raise RuntimeError(f"The app answered {got} {data!r}, not 200 {expect!r}.")


def wsgi_overhead(run: Run, row: Row, per_round_s: float) -> None:
    """G1: ``app(environ, start_response)`` in this process."""
    plain, ext = hello_app(extension=False), hello_app(extension=True)
    environ = EnvironBuilder(path="/", base_url=f"http://{HOST}/").get_environ()
    # As a real server sets it: without it the extension takes the request
    # for the test client's and skips the in-flight count, the cost that
    # servers pay.
    environ["SERVER_SOFTWARE"] = "Werkzeug/3"

    for app in (plain, ext):
        check_wsgi(app, environ)
        wsgi_round(app, environ, CALLS // 10)  # warm-up

    cpu_plain: list[float] = []
    cpu_ext: list[float] = []
    alternate(
        run,
        row,
        ROUNDS,
        per_round_s,
        lambda: wsgi_round(plain, environ, CALLS, cpu_plain),
        lambda: wsgi_round(ext, environ, CALLS, cpu_ext),
    )
    row.samples["base_cpu"], row.samples["ext_cpu"] = cpu_plain, cpu_ext


# -- per request, over HTTP ----------------------------------------------------


class HttpLoop:
    """A client that sends ``GET /`` in a loop on one ``http.client``
    connection, which reconnects by itself when the server closes it.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        #: Requests sent, and responses that closed the connection.
        self.requests = 0
        self.closed = 0

    def round(self, n: int) -> float:
        """Send ``n`` requests; return the seconds per request."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
        deadline = perf() + HTTP_ROUND_TIMEOUT
        closed = 0

        try:
            t0 = perf()

            for _ in range(n):
                conn.request("GET", "/")
                resp = conn.getresponse()
                body = resp.read()
                closed += resp.will_close

                if resp.status != 200 or body != b"ok":
                    raise RuntimeError(f"GET / answered {resp.status} {body!r}.")

                if perf() > deadline:
                    raise TimeoutError(
                        f"{n} requests took over {HTTP_ROUND_TIMEOUT} s."
                    )

            elapsed = perf() - t0
        finally:
            conn.close()

        self.requests += n
        self.closed += closed
        return elapsed / n


def http_overhead(run: Run, row: Row, per_round_s: float) -> None:
    """G2: the same two apps, each served by a threaded ``ServerThread``
    in a harness process, and a client loop here.
    """
    log = run.logpath("harness-hello-pair")
    h = Harness("hello-pair", log, child_env())

    try:
        try:
            ports = [int(p) for p in h.expect("READY", 20).split()]
        except Exception as e:
            raise RuntimeError(f"{e} Log: {log_tail(log)}") from None

        plain, ext = (HttpLoop(port) for port in ports)

        for loop in (plain, ext):
            wait_ready(loop.port, perf())
            loop.round(REQUESTS // 10)  # warm-up

        alternate(
            run,
            row,
            ROUNDS,
            per_round_s,
            lambda: plain.round(REQUESTS),
            lambda: ext.round(REQUESTS),
        )
        h.send_stop()
        h.expect("STOPPED", 10)
    finally:
        h.close()
        release(h.proc)

    requests = plain.requests + ext.requests
    closed = plain.closed + ext.closed

    if closed == requests:
        row.notes.append(
            f"the server closed the connection after each of the {requests:,}"
            " responses (Werkzeug's server has no keep-alive), so the client"
            " reconnected for every request: each includes a TCP connect and"
            " a new request thread"
        )
    elif closed:
        row.notes.append(
            f"{closed:,} of {requests:,} responses closed the connection; the"
            " client reconnected after each of them"
        )


# -- pytest start-up -------------------------------------------------------------


def children_cpu() -> float:
    """User and system CPU seconds of this process's reaped children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: The check whose answer ends G3's note.
PLUGIN_IMPORT = "a fresh 'import flask_shutdown.pytest_plugin' loads flask"


def plugin_imports_flask(run: Run) -> str:
    """Whether importing the plugin module alone imports Flask, in a new
    interpreter: ``yes``, ``no``, or what went wrong.
    """
    code = "import sys, flask_shutdown.pytest_plugin; print('flask' in sys.modules)"
    proc = spawn(
        [sys.executable, "-c", code], run.logpath("plugin-import"), child_env()
    )
    exit_time(proc, 30)
    output = proc.output().strip()
    release(proc)
    answers = {"True": "yes", "False": "no"}
    return answers.get(output, f"check failed: {output[-200:]!r}")


def pytest_plugins(output: str) -> str:
    """The ``plugins:`` line of pytest's header, or ``?``."""
    match = re.search(r"^plugins: (.*)$", output, re.M)
    return match.group(1).strip() if match else "?"


def pytest_startup(run: Run, row: Row, per_round_s: float) -> None:
    """G3: ``python -m pytest -q -p no:cacheprovider`` on a project of one
    empty test, without (``-p no:flask_shutdown``) and with the plugin.
    Bytecode is written as in a normal run, and one warm-up run of each
    fills the caches.
    """
    d = run.tmp / f"pytest-startup-{row.key}"
    d.mkdir(exist_ok=True)
    # An empty pytest.ini makes this directory the rootdir: no
    # configuration of a directory above it applies.
    (d / "pytest.ini").write_text("[pytest]\n")
    (d / "test_one.py").write_text("def test_one():\n    pass\n")
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd_with = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd_without = [*cmd_with, "-p", "no:flask_shutdown"]

    def once(cmd: list[str], cpu: list[float] | None = None) -> tuple[float, str]:
        log = run.logpath(f"pytest-startup-{row.key}")
        c0 = children_cpu()
        t0 = perf()
        proc = spawn(cmd, log, env, cwd=d)
        at = exit_time(proc, 60)
        # Proc's thread has reaped it once exit_time returned a time.
        c1 = children_cpu()
        output = proc.output()
        release(proc)

        if at is None:
            raise TimeoutError("pytest did not exit within 60 s.")

        if proc.returncode != 0 or "1 passed" not in output:
            tail = " | ".join(output.strip().splitlines()[-3:])
            raise RuntimeError(f"pytest exit code {proc.returncode}: {tail}")

        if cpu is not None:
            cpu.append(c1 - c0)

        return at - t0, output

    try:
        # Warm-up, at normal verbosity (-q -v): the header names the plugins.
        _, out_without = once([*cmd_without, "-v"])
        _, out_with = once([*cmd_with, "-v"])
    except Exception as exc:
        row.notes.append(f"warm-up failed: {type(exc).__name__}: {exc}")
        return

    cpu_without: list[float] = []
    cpu_with: list[float] = []
    alternate(
        run,
        row,
        PYTEST_RUNS,
        per_round_s,
        lambda: once(cmd_without, cpu_without)[0],
        lambda: once(cmd_with, cpu_with)[0],
    )
    row.samples["base_cpu"], row.samples["ext_cpu"] = cpu_without, cpu_with
    row.notes.append(f"plugins with: {pytest_plugins(out_with)}")
    row.notes.append(f"without: {pytest_plugins(out_without)}")
    row.notes.append(f"{PLUGIN_IMPORT}: {plugin_imports_flask(run)}")
