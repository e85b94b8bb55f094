"""The table of rows, in the order they run: key, label, the table it is
printed in, how it is measured, the budget a trial needs, and why it
cannot run here (``not run: ...``).

The order matters: A runs first, in a process with few threads yet; D1
runs before anything in this process forks (after a fork every page the
parent writes costs a fault, which would slow the next in-process
server).
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import functools

from . import fixtures
from . import idle
from . import overhead
from . import workers
from .common import pkg_version
from .inflight import harness_start
from .inflight import run_inflight
from .inflight import Start
from .runner import Row
from .runner import Run
from .servers import idle_trial
from .servers import process_start
from .servers import REAL_SERVERS
from .servers import RealServer

#: Measures a row: ``measure(run, row, per_trial_s)`` fills ``row``.
Measure = cabc.Callable[[Run, Row, float], None]


@dataclasses.dataclass(frozen=True)
class RowSpec:
    """One row of a table."""

    key: str
    label: str
    #: The table the report prints it in (see :mod:`bench.report`).
    table: str
    measure: Measure
    #: Seconds of budget a trial (or round) needs: none starts with less.
    per_trial_s: float
    #: Returns why the row cannot run here, or ``None``.
    missing: cabc.Callable[[], str | None] | None = None


def trials(fn: cabc.Callable[[Run], dict[str, float]]) -> Measure:
    """A row of independent trials; ``fn`` returns one trial's samples."""

    def measure(run: Run, row: Row, per_trial_s: float) -> None:
        run.run_trials(row, lambda: fn(run), per_trial_s)

    return measure


def in_flight(start: cabc.Callable[[Run], Start]) -> Measure:
    """A row of in-flight trials against servers ``start(run)`` starts."""

    def measure(run: Run, row: Row, per_trial_s: float) -> None:
        run_inflight(run, row, start(run), per_trial_s)

    return measure


def fact(fn: cabc.Callable[[Run], str]) -> Measure:
    """One check whose result is a sentence (table ``facts``)."""

    def measure(run: Run, row: Row, per_trial_s: float) -> None:
        if run.left() < per_trial_s:
            row.skipped = "not run: time budget hit"
        else:
            row.notes.append(fn(run))

    return measure


def session(fixture: str) -> Measure:
    """A real pytest session whose tests use ``fixture``."""

    def measure(run: Run, row: Row, per_trial_s: float) -> None:
        fixtures.pytest_session(run, row, fixture)

    return measure


def needs(package: str) -> cabc.Callable[[], str | None]:
    """The row needs the distribution ``package``."""

    def missing() -> str | None:
        if pkg_version(package) is None:
            return f"not run: {package} not installed"

        return None

    return missing


def _real_server_rows(spec: RealServer) -> list[RowSpec]:
    """A server of E: its idle row, then its in-flight row."""
    label = f"{spec.key} {spec.label}"

    def start(run: Run) -> Start:
        return process_start(run, spec)

    return [
        RowSpec(
            spec.key,
            label,
            "E",
            trials(lambda run: idle_trial(run, start(run))),
            spec.per_trial_s,
            spec.missing,
        ),
        RowSpec(
            spec.key, label, "EI", in_flight(start), spec.per_trial_s, spec.missing
        ),
    ]


_D1 = "D1 ServerThread(port=0) + shutdown()"
_D2 = "D2 pytest-flask LiveServer, stop()"

#: Every row, in the order it runs.
ROWS: list[RowSpec] = [
    # A: idle stop latency, in this process, before it has more threads.
    RowSpec(
        "F1",
        "F1 floor: bare accept(), shutdown(SHUT_RDWR)",
        "A",
        trials(functools.partial(idle.floor_trial, variant="accept")),
        0.6,
    ),
    RowSpec(
        "F2",
        "F2 floor: selector + socketpair wake-up",
        "A",
        trials(functools.partial(idle.floor_trial, variant="selector")),
        0.6,
    ),
    RowSpec(
        "A1",
        "A1 ServerThread.shutdown() (extension, no hooks)",
        "A",
        trials(functools.partial(idle.server_thread_trial, graceful=True)),
        0.6,
    ),
    RowSpec(
        "A2",
        "A2 ServerThread.stop_serving()",
        "A",
        trials(functools.partial(idle.server_thread_trial, graceful=False)),
        0.6,
    ),
    RowSpec(
        "A3",
        "A3 make_server + serve_forever, shutdown()",
        "A",
        trials(idle.make_server_trial),
        1.2,
    ),
    # B: POST to stopped, idle server.
    RowSpec(
        "B1",
        "B1 ServerThread, POST /shutdown (token)",
        "B",
        trials(idle.post_thread_trial),
        0.6,
    ),
    RowSpec(
        "B2",
        "B2 make_server, naive shutdown() in view",
        "B",
        trials(idle.post_naive_trial),
        1.2,
    ),
    RowSpec(
        "B3",
        "naive shutdown() in a view on make_server(threaded=False)",
        "facts",
        fact(idle.naive_nothreads_check),
        10.0,
    ),
    # D: test fixtures, start/stop on an idle server; D1 before any fork.
    RowSpec(
        "D1",
        _D1,
        "D",
        trials(functools.partial(idle.server_thread_trial, graceful=True)),
        0.6,
    ),
    RowSpec(
        "D2",
        _D2,
        "D",
        trials(fixtures.live_server_trial),
        1.0,
        needs("pytest-flask"),
    ),
    RowSpec(
        "D3",
        f"D3 pytest session, {fixtures.PLUGIN_FIXTURE} (fn scope)",
        "D",
        session(fixtures.PLUGIN_FIXTURE),
        0.0,
        fixtures.plugin_missing,
    ),
    RowSpec(
        "D4",
        "D4 pytest session, live_server (fn scope)",
        "D",
        session("live_server"),
        0.0,
        needs("pytest-flask"),
    ),
    # C: in flight, the server side in a harness process.
    RowSpec(
        "C1",
        "C1 ServerThread, POST /shutdown",
        "C",
        in_flight(lambda run: harness_start(run, "thread-post")),
        2.5,
    ),
    RowSpec(
        "C2",
        "C2 make_server, shutdown()",
        "C",
        in_flight(lambda run: harness_start(run, "make-server")),
        2.5,
    ),
    RowSpec(
        "C3",
        "C3 multiprocessing app.run, terminate()",
        "C",
        in_flight(lambda run: harness_start(run, "mp-terminate")),
        2.5,
    ),
    # D: in flight at the fixture's stop, in this process.
    RowSpec("D1", _D1, "DI", in_flight(lambda run: fixtures.ours_start), 2.5),
    RowSpec(
        "D2",
        _D2,
        "DI",
        in_flight(fixtures.live_server_start),
        2.5,
        needs("pytest-flask"),
    ),
    # E: real servers as subprocesses.
    *(row for spec in REAL_SERVERS for row in _real_server_rows(spec)),
    # G: what the extension costs while nothing is being stopped.
    RowSpec(
        "G1",
        "G1 hello world, in process (WSGI call)",
        "G",
        overhead.wsgi_overhead,
        2.0 * overhead.CALLS * 100e-6,
    ),
    RowSpec(
        "G2",
        "G2 hello world, ServerThread over HTTP",
        "G",
        overhead.http_overhead,
        2.0 * overhead.REQUESTS * 2e-3,
    ),
    RowSpec(
        "G3",
        "G3 pytest start-up, one empty test",
        "GP",
        overhead.pytest_startup,
        3.0,
    ),
    # H: one state per server, and per fleet. Last: they fork servers and
    # start a redis-server, which nothing after them should share the
    # machine with.
    RowSpec(
        "H1",
        "H1 readiness 503 from 100 ms after the 202",
        "H",
        workers.readiness,
        30.0,
        workers.gunicorn_missing,
    ),
    RowSpec(
        "H2",
        "H2 of 40 wrong guesses, reached the check",
        "H",
        workers.lockout,
        20.0,
        workers.gunicorn_missing,
    ),
    RowSpec(
        "H3",
        "H3 signed token x8 on 4 workers: shutdowns",
        "H",
        workers.signed_token,
        30.0,
        workers.gunicorn_missing,
    ),
    RowSpec(
        "H4",
        "H4 signed token x8 on 3 instances: shutdowns",
        "H",
        workers.fleet_token,
        60.0,
        lambda: workers.gunicorn_missing() or workers.redis_missing(),
    ),
    RowSpec(
        "H5",
        "H5 8 concurrent POSTs: shutdowns started",
        "H",
        workers.concurrent_posts,
        30.0,
        workers.gunicorn_missing,
    ),
    RowSpec(
        "H6",
        "H6 8 concurrent POSTs: slowest answer",
        "H",
        workers.slowest_answer,
        0.0,
    ),
    RowSpec(
        "H7",
        "H7 GET /shutdown/ready, in process, per req",
        "H",
        workers.state_cost,
        10.0,
    ),
    RowSpec(
        "H8",
        "H8 GET / (ordinary request), in process",
        "H",
        workers.state_cost,
        10.0,
    ),
    RowSpec(
        "H9",
        "H9 POST /shutdown, signed token, per POST",
        "H",
        workers.post_with_redis,
        10.0,
        workers.redis_missing,
    ),
]
