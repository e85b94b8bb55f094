"""One state per server (H): what the workers of one gunicorn server, and
the instances of a fleet sharing one Redis, agree on.

Each row runs both ways in the same run, alternating trial by trial:
"per process" with ``SHUTDOWN_SHARED_STATE = False`` (every worker keeps
its state to itself, as before the state was shared) or, for the fleet
rows, ``SHUTDOWN_STORAGE_URI = "memory://"``; and "shared" with the
defaults (the per-server state file) or a real ``redis-server`` on a
loopback port of its own.
"""

from __future__ import annotations

import collections.abc as cabc
import concurrent.futures
import contextlib
import json
import shutil
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from tests._proc import Redis

from .common import AUTH
from .common import CONFIG_ENV
from .common import HOST
from .common import perf
from .common import PID_HEADER
from .common import pkg_version
from .common import SECRET_KEY
from .net import classify
from .net import wait_for_port
from .net import wait_ready
from .procs import alive
from .procs import child_env
from .procs import cleanup_children
from .procs import exit_time
from .procs import log_tail
from .procs import release
from .procs import spawn
from .runner import progress
from .runner import Row
from .runner import Run
from .servers import APP
from .servers import gunicorn_control_socket

if t.TYPE_CHECKING:
    from tests._proc import Proc

#: Worker processes of the gunicorn server of every row but H4.
WORKERS = 4
#: Trials per row and way: each starts one or three gunicorn servers.
TRIALS = 3
#: Concurrent POST /shutdown in H3 and H5 (the issue's figure).
PARALLEL = 8
#: Wrong guesses of H2, spread over the workers by concurrent clients.
GUESSES = 40
#: SHUTDOWN_LOCKOUT_ATTEMPTS, the documented budget of H2 (its default).
LOCKOUT_ATTEMPTS = 5
#: Readiness is probed from this long after the 202 (the issue's figure)
#: until this many seconds later, while the drain delay keeps the server
#: up.
PROBE_FROM_S = 0.1
PROBE_FOR_S = 1.0
DRAIN_DELAY_S = 2.0
#: Concurrent probe clients, so that the probes reach several workers.
PROBE_CLIENTS = 4
#: How long H2's guesses hold a worker before sending their body.
SLOW_BODY_S = 0.1
#: How long a client waits for one answer.
TIMEOUT_S = 10.0

#: The two ways each row runs: (column, app config).
PER_PROCESS = {"SHUTDOWN_SHARED_STATE": False}
SHARED: dict[str, t.Any] = {}

#: How each row's values read: unit, and the target the issue sets.
FORMATS: dict[str, tuple[str, str]] = {
    "H1": ("%", "100%"),
    "H2": ("", f"{LOCKOUT_ATTEMPTS}"),
    "H3": ("", "1"),
    "H4": ("", "1"),
    "H5": ("", "1"),
    "H6": ("ms", "<= 1000 ms"),
    "H7": ("us", "-"),
    "H8": ("us", "~0"),
    "H9": ("ms", "-"),
}


class Server:
    """A gunicorn server of ``workers`` sync workers serving the benchmark
    app with ``config``.
    """

    def __init__(self, run: Run, tag: str, config: dict[str, t.Any], workers: int):
        cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers)]
        cmd += ["--worker-class", "sync", "--bind", f"{HOST}:0"]
        cmd += ["--graceful-timeout", "30"]

        if gunicorn_control_socket():
            cmd += ["--no-control-socket"]

        self.log = run.logpath(tag)
        env = child_env({CONFIG_ENV: json.dumps(config)})
        t0 = perf()
        self.proc: Proc = spawn([*cmd, f"{APP}()"], self.log, env)

        try:
            self.port = wait_for_port(self.log, t0 + 30, alive=alive(self.proc))
            wait_ready(self.port, t0, timeout=30, alive=alive(self.proc))
            deadline = perf() + 30

            while self.proc.output().count("Booting worker") < workers:
                if perf() > deadline:
                    raise TimeoutError(f"{workers} workers did not boot in 30 s.")

                time.sleep(0.02)
        except Exception as e:
            release(self.proc)
            raise RuntimeError(f"{e} Log: {log_tail(self.log)}") from None

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        body_after: float = 0.0,
    ) -> tuple[int, dict[str, t.Any], int, float]:
        """One request on a new connection: status, JSON body (or ``{}``),
        the worker's pid, and the seconds it took.

        :param body_after: Send a two-byte body this many seconds after the
            headers. A sync worker waits for it, so concurrent requests of
            this kind go to different workers.
        """
        import http.client

        t0 = perf()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT_S)

        try:
            conn.putrequest(method, path, skip_accept_encoding=True)

            for name, value in {"Connection": "close", **(headers or {})}.items():
                conn.putheader(name, value)

            if body_after:
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", "2")
                conn.endheaders()
                time.sleep(body_after)
                conn.send(b"{}")
            else:
                conn.endheaders()

            resp = conn.getresponse()
            body = resp.read()
            pid = int(resp.getheader(PID_HEADER) or 0)
        finally:
            conn.close()

        try:
            data = json.loads(body)
        except ValueError:
            data = {}

        return resp.status, data if isinstance(data, dict) else {}, pid, perf() - t0

    def finish(self, timeout: float = 30.0) -> None:
        """Wait for the server to exit (after a shutdown), then make sure
        nothing of it is left.
        """
        exit_time(self.proc, timeout)
        release(self.proc)


def _both_ways(
    run: Run,
    row: Row,
    trial: cabc.Callable[[dict[str, t.Any], str], float],
    ways: tuple[tuple[str, dict[str, t.Any]], tuple[str, dict[str, t.Any]]],
) -> None:
    """Run ``trial(config, tag)`` :data:`TRIALS` times each way,
    alternating, into the samples ``base`` (the first way) and ``ext``.
    """
    errors: list[str] = []

    for i in range(min(run.trials, TRIALS)):
        if run.left() < 20:
            row.notes.append(f"time budget hit after {i} trials")
            break

        order = ways if i % 2 == 0 else ways[::-1]

        for name, config in order:
            try:
                value = trial(config, f"{row.key}-{name}-{i}")
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
                cleanup_children()
                continue

            row.samples["base" if name == ways[0][0] else "ext"].append(value)

    if errors:
        row.notes.append(f"{len(errors)} trials failed: {errors[0]}")

    progress(f"{row.key}: {len(row.samples['ext'])} trials done")


_WORKER_WAYS = (("per-process", PER_PROCESS), ("shared", SHARED))


# -- H1: readiness ---------------------------------------------------------------


def readiness(run: Run, row: Row, per_trial_s: float) -> None:
    """H1: one accepted ``POST /shutdown``, then readiness probes from
    concurrent clients from 100 ms after the 202: the share that answered
    503.
    """
    seen: dict[str, list[int]] = {"probes": [], "workers": []}

    def trial(config: dict[str, t.Any], tag: str) -> float:
        server = Server(
            run, tag, {**config, "SHUTDOWN_DRAIN_DELAY": DRAIN_DELAY_S}, WORKERS
        )

        try:
            status, _, _, _ = server.request("POST", "/shutdown", AUTH)

            if status != 202:
                raise RuntimeError(f"POST /shutdown answered {status}.")

            start = perf() + PROBE_FROM_S
            time.sleep(PROBE_FROM_S)

            def probe(_: int) -> list[tuple[int, int]]:
                got = []

                # Bounded in count and time.
                for _ in range(200):
                    if perf() - start > PROBE_FOR_S:
                        break

                    status, _body, pid, _took = server.request("GET", "/shutdown/ready")
                    got.append((status, pid))

                return got

            with concurrent.futures.ThreadPoolExecutor(PROBE_CLIENTS) as pool:
                batches = list(pool.map(probe, range(PROBE_CLIENTS)))

            answers = [answer for batch in batches for answer in batch]
        finally:
            server.finish()

        if not answers:
            raise RuntimeError("No probe was answered.")

        seen["probes"].append(len(answers))
        seen["workers"].append(len({pid for _, pid in answers}))
        return 100.0 * sum(1 for s, _ in answers if s == 503) / len(answers)

    _both_ways(run, row, trial, _WORKER_WAYS)
    row.notes.append(
        f"probes per trial {_span(seen['probes'])}, from {PROBE_CLIENTS} concurrent"
        f" clients on new connections, answered by {_span(seen['workers'])} of"
        f" {WORKERS} workers; SHUTDOWN_DRAIN_DELAY = {DRAIN_DELAY_S:g} s"
    )


# -- H2: the lockout budget ------------------------------------------------------


def lockout(run: Run, row: Row, per_trial_s: float) -> None:
    """H2: :data:`GUESSES` wrong tokens from four concurrent clients:
    how many reached the credential check (answered 401, not 429).
    """
    seen: list[int] = []

    def trial(config: dict[str, t.Any], tag: str) -> float:
        server = Server(run, tag, config, WORKERS)
        wrong = {"Authorization": "Bearer wrong-guess-0123456789abcdef"}

        try:

            def guess(_: int) -> tuple[int, int]:
                status, _body, pid, _took = server.request(
                    "POST", "/shutdown", wrong, body_after=SLOW_BODY_S
                )
                return status, pid

            with concurrent.futures.ThreadPoolExecutor(PROBE_CLIENTS) as pool:
                answers = list(pool.map(guess, range(GUESSES)))
        finally:
            release(server.proc)

        other = {s for s, _ in answers} - {401, 429}

        if other:
            raise RuntimeError(f"Wrong guesses answered {sorted(other)}.")

        seen.append(len({pid for _, pid in answers}))
        return float(sum(1 for s, _ in answers if s == 401))

    _both_ways(run, row, trial, _WORKER_WAYS)
    row.notes.append(
        f"{GUESSES} wrong bearer tokens from {PROBE_CLIENTS} concurrent clients on"
        f" new connections, each body sent {SLOW_BODY_S:g} s after the headers so"
        f" that they reach different workers ({_span(seen)} of {WORKERS}); the"
        f" rest answered 429; the documented budget is SHUTDOWN_LOCKOUT_ATTEMPTS"
        f" = {LOCKOUT_ATTEMPTS} per client (loopback is one client)"
    )


# -- H3, H5, H6: concurrent shutdown requests -------------------------------------


def _parallel_posts(
    servers: list[Server], headers: dict[str, str]
) -> list[tuple[int, dict[str, t.Any], float]]:
    """:data:`PARALLEL` concurrent ``POST /shutdown``, spread over
    ``servers``: status, body and seconds of each (status 0: no answer).
    """

    def post(i: int) -> tuple[int, dict[str, t.Any], float]:
        server = servers[i % len(servers)]
        t0 = perf()

        try:
            status, data, _, took = server.request("POST", "/shutdown", headers)
            return status, data, took
        except Exception as e:
            return 0, {"error": classify(e)}, perf() - t0

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(post, range(PARALLEL)))


def _started(answers: list[tuple[int, dict[str, t.Any], float]]) -> int:
    """The shutdowns the answers name: distinct ids among the 202s."""
    ids = {data.get("shutdown_id") for status, data, _ in answers if status == 202}
    return len(ids)


def concurrent_posts(run: Run, row: Row, per_trial_s: float) -> None:
    """H5 and H6, from the same trials: :data:`PARALLEL` concurrent valid
    ``POST /shutdown`` (a static token) to one server: the shutdowns they
    started, and the slowest answer.
    """
    slowest = _SLOWEST
    unanswered: list[int] = []

    def trial(config: dict[str, t.Any], tag: str) -> float:
        server = Server(run, tag, config, WORKERS)

        try:
            answers = _parallel_posts([server], AUTH)
        finally:
            server.finish()

        key = "base" if config is PER_PROCESS else "ext"
        slowest.samples[key].append(1000 * max(took for _, _, took in answers))
        unanswered.append(sum(1 for status, _, _ in answers if status == 0))
        return float(_started(answers))

    _both_ways(run, row, trial, _WORKER_WAYS)
    slowest.notes.append(
        f"the same trials as H5; requests left without an answer per trial:"
        f" {_span(unanswered)}"
    )


#: H6's samples, taken by H5's trials.
_SLOWEST = Row("H6", "")


def slowest_answer(run: Run, row: Row, per_trial_s: float) -> None:
    """H6: the slowest answer of H5's trials, in ms."""
    if not _SLOWEST.samples:
        row.skipped = "not run: measured by H5's trials, and H5 did not run"
        return

    row.samples.update(_SLOWEST.samples)
    row.notes.extend(_SLOWEST.notes)


def signed_token(run: Run, row: Row, per_trial_s: float) -> None:
    """H3: one signed token in :data:`PARALLEL` concurrent requests to one
    server: the shutdowns it started.
    """

    def trial(config: dict[str, t.Any], tag: str) -> float:
        server = Server(run, tag, {**config, **_SIGNED}, WORKERS)

        try:
            answers = _parallel_posts([server], _token_header())
        finally:
            server.finish()

        return float(_started(answers))

    _both_ways(run, row, trial, _WORKER_WAYS)


def fleet_token(run: Run, row: Row, per_trial_s: float) -> None:
    """H4: one signed token in :data:`PARALLEL` concurrent requests spread
    over three instances (two workers each): the shutdowns it started, with
    each instance on its own (``memory://``) or sharing one Redis.
    """
    with redis_server(run) as redis:
        ways = (
            ("per-process", {"SHUTDOWN_STORAGE_URI": "memory://"}),
            ("shared", {"SHUTDOWN_STORAGE_URI": redis.uri}),
        )

        def trial(config: dict[str, t.Any], tag: str) -> float:
            servers = []

            try:
                for n in range(3):
                    servers.append(Server(run, f"{tag}-{n}", {**config, **_SIGNED}, 2))

                answers = _parallel_posts(servers, _token_header())
            finally:
                for server in servers:
                    server.finish()

            return float(_started(answers))

        _both_ways(run, row, trial, ways)

    row.notes.append(
        "per-process = each instance on memory:// (the workers of each share"
        " a file); shared = redis:// on a local redis-server"
    )


_SIGNED = {"SHUTDOWN_SIGNED_TOKENS": True, "SECRET_KEY": SECRET_KEY}


def _token_header() -> dict[str, str]:
    from flask_shutdown.tokens import TokenSigner

    token = TokenSigner([SECRET_KEY]).create(60, ["shutdown"])
    return {"Authorization": f"Bearer {token}"}


# -- H7, H8: what the shared state costs a request ---------------------------------


def state_cost(run: Run, row: Row, per_trial_s: float) -> None:
    """H7 (``GET /shutdown/ready``) or H8 (``GET /``): the same app in
    process, its state kept per process or in a state file, as a gunicorn
    worker keeps it. Only the readiness, status and shutdown endpoints read
    the file; H8 shows what an ordinary request pays.
    """
    from werkzeug.test import EnvironBuilder

    from flask_shutdown import shared

    from .app import hello_app
    from .overhead import alternate
    from .overhead import check_wsgi
    from .overhead import wsgi_round

    path = "/shutdown/ready" if row.key == "H7" else "/"
    calls = 5_000 if row.key == "H7" else 20_000
    per_process, with_file = hello_app(extension=True), hello_app(extension=True)
    folder = Path(tempfile.mkdtemp(dir=run.tmp))
    folder.chmod(0o700)
    with_file.extensions["shutdown"].coordinator.shared = shared.FileState(
        folder / "bench.state"
    )
    environ = EnvironBuilder(path=path, base_url=f"http://{HOST}/").get_environ()
    environ["SERVER_SOFTWARE"] = "gunicorn/23"
    expect = None if row.key == "H7" else b"ok"

    for app in (per_process, with_file):
        check_wsgi(app, environ, expect)
        wsgi_round(app, environ, calls // 10)

    alternate(
        run,
        row,
        7,
        per_trial_s,
        lambda: wsgi_round(per_process, environ, calls),
        lambda: wsgi_round(with_file, environ, calls),
    )
    row.samples["base"] = [x * 1e6 for x in row.samples["base"]]
    row.samples["ext"] = [x * 1e6 for x in row.samples["ext"]]
    row.notes.append(
        f"in process, {calls:,} calls of app(environ, start_response) per round,"
        f" 7 rounds alternating; shared = a state file as gunicorn's workers use"
    )


# -- H9: POST /shutdown with Redis --------------------------------------------------


def post_with_redis(run: Run, row: Row, per_trial_s: float) -> None:
    """H9: ``POST /shutdown`` with a signed token through the test client
    (the real checks and sequence, no server to stop), memory:// against a
    local redis-server: ms per POST.
    """
    from flask import Flask

    from flask_shutdown import Shutdown

    from .overhead import alternate

    with redis_server(run) as redis:
        apps = []

        for uri in ("memory://", redis.uri):
            app = Flask("flask_shutdown_bench_post")
            app.config.update(
                SHUTDOWN_SIGNED_TOKENS=True,
                SECRET_KEY=SECRET_KEY,
                SHUTDOWN_STORAGE_URI=uri,
                SHUTDOWN_DRAIN_TIMEOUT=5,
            )
            ext = Shutdown(app)
            apps.append((app, ext))

        def posts(app: t.Any, ext: t.Any, n: int = 50) -> float:
            client = app.test_client()
            total = 0.0

            for _ in range(n):
                headers = _token_header()
                t0 = perf()
                rv = client.post("/shutdown", headers=headers)
                total += perf() - t0

                if rv.status_code != 202:
                    raise RuntimeError(f"POST /shutdown answered {rv.status_code}.")

                ext.reset(app)

            return 1000 * total / n

        alternate(
            run,
            row,
            7,
            per_trial_s,
            lambda: posts(*apps[0]),
            lambda: posts(*apps[1]),
        )

    row.notes.append(
        "50 POSTs per round, 7 rounds alternating, each with a new signed"
        " token, through app.test_client(); per-process = memory://, shared ="
        " redis:// (the token's single use checked in Redis)"
    )


# -- a redis-server of the run's own ------------------------------------------------


@contextlib.contextmanager
def redis_server(run: Run) -> cabc.Iterator[Redis]:
    """The tests' ``redis-server`` on a loopback port of its own, without
    persistence, for the length of a ``with`` block.
    """
    redis = Redis(Path(tempfile.mkdtemp(dir=run.tmp)))
    redis.start()

    try:
        yield redis
    finally:
        redis.stop()


def redis_missing() -> str | None:
    """Why the Redis rows cannot run here, or ``None``."""
    if shutil.which("redis-server") is None:
        return "not run: redis-server not installed"

    if pkg_version("redis") is None:
        return "not run: redis (redis-py) not installed"

    return None


def gunicorn_missing() -> str | None:
    return None if pkg_version("gunicorn") else "not run: gunicorn not installed"


def _span(xs: list[int]) -> str:
    if not xs:
        return "-"

    lo, hi = min(xs), max(xs)
    return str(lo) if lo == hi else f"{lo}-{hi}"
