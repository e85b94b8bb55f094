"""Benchmark: how fast and how cleanly Flask-Shutdown stops a server,
measured side by side with the usual alternatives, in one run.

Run from the repository root::

    .venv/bin/python bench/bench.py > bench/results.txt

Progress goes to standard error, the tables to standard output. Options:
``--trials N`` (default 10), ``--budget S`` (default 360 s; no new trial is
started after this), ``--only KEYS`` (comma-separated; ``A`` selects every
row whose key starts with ``A``). ``bench/README.md`` explains each row.

Everything listens on 127.0.0.1 on an ephemeral port. Every request, join
and wait has a timeout. Child processes run in their own sessions and are
killed (only them) at the end; a watchdog ends the run at budget + 60 s.

This file is also the app module of the servers started as subprocesses
(``bench:create_app``) and, with ``--harness MODE``, the server-side
process of the in-flight measurements.
"""

from __future__ import annotations

import argparse
import collections
import collections.abc as cabc
import contextlib
import dataclasses
import http.client
import importlib.util
import json
import logging
import multiprocessing
import os
import platform
import queue
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import typing as t
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version

from flask import Flask
from flask import request
from werkzeug.wsgi import ClosingIterator

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
#: How long the slow view sleeps.
SLEEP_S = 0.3
#: Concurrent slow requests in the in-flight measurements.
N_INFLIGHT = 8
#: The stop is triggered this long after the slow requests start.
TRIGGER_AFTER_S = 0.05
#: The static bearer token of the benchmark app.
TOKEN = "bench-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Prefix of the lines a harness process writes for the orchestrator.
PROTO = "@@BENCH "
#: CLOCK_MONOTONIC on Linux: comparable across processes.
perf = time.perf_counter


# -- the app under test (also imported by gunicorn and flask run) ----------


def _event(kind: str) -> None:
    """Append ``KIND TIME PID`` to the file named by ``$BENCH_EVENT_LOG``."""
    path = os.environ.get("BENCH_EVENT_LOG")

    if not path:
        return

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    try:
        os.write(fd, f"{kind} {perf():.6f} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def create_app(extension: bool = True) -> Flask:
    """The app every approach serves: ``GET /``, ``GET /sleep`` (0.3 s),
    and ``POST /stop-server``, a naive shutdown view that calls
    ``shutdown()`` on the ``make_server`` server serving it.

    :param extension: Register :class:`~flask_shutdown.Shutdown` with one
        static token.
    """
    app = Flask("flask_shutdown_bench")
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.get("/sleep")
    def slow() -> str:
        _event("enter")
        time.sleep(SLEEP_S)
        return "slept"

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        if request.path == "/sleep":
            _event("teardown")

    @app.post("/stop-server")
    def stop_server() -> str:
        server = app.extensions["bench_server"]
        server.shutdown()
        return "stopping"

    if extension:
        Shutdown(app)

    inner = app.wsgi_app

    def log_sent(environ: t.Any, start_response: t.Any) -> t.Any:
        body = inner(environ, start_response)

        if environ.get("PATH_INFO") != "/sleep":
            return body

        def chunks() -> cabc.Iterator[bytes]:
            yield from body
            # The server asks for the next chunk once it has written the
            # last one: the moment a slow request is over, taken in the
            # server's process rather than in a client thread that may be
            # scheduled late. (close() would be later: Werkzeug first waits
            # up to 10 ms for the client to send more.)
            _event("sent")

        close = getattr(body, "close", None)
        return ClosingIterator(chunks(), [] if close is None else [close])

    app.wsgi_app = log_sent  # type: ignore[method-assign]
    return app


# -- small helpers ----------------------------------------------------------


def http_request(
    port: int,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    try:
        conn.request(method, path, headers={"Connection": "close", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def free_port() -> int:
    # Only for servers that cannot bind port 0 themselves; the short
    # bind-then-release race is acceptable on a quiet loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(
    port: int,
    t0: float,
    timeout: float = 15.0,
    alive: cabc.Callable[[], bool] | None = None,
) -> float:
    """Poll ``GET /`` about every millisecond until it answers 200; return
    the seconds since ``t0``.
    """
    deadline = t0 + timeout

    while True:
        now = perf()

        if now > deadline:
            raise TimeoutError(f"The server was not ready after {timeout:.0f} s.")

        if alive is not None and not alive():
            raise RuntimeError("The server process exited before it was ready.")

        try:
            status, _ = http_request(port, timeout=max(0.05, min(5.0, deadline - now)))

            if status == 200:
                return perf() - t0
        except (OSError, http.client.HTTPException):
            pass

        time.sleep(0.001)


def wait_for_port(
    log_path: str, deadline: float, alive: cabc.Callable[[], bool]
) -> int:
    """Read the port a server picked from the URL it prints on start-up
    (gunicorn, waitress and Werkzeug print ``http://HOST:PORT``; uWSGI
    prints ``bound to TCP address HOST:PORT``).
    """
    pattern = re.compile(rf"(?:http://|TCP address ){re.escape(HOST)}:(\d+)")

    while perf() < deadline:
        with open(log_path, errors="replace") as f:
            match = pattern.search(f.read())

        if match:
            return int(match.group(1))

        if not alive():
            raise RuntimeError("The server process exited before it printed its URL.")

        time.sleep(0.001)

    raise TimeoutError("The server printed no URL in time.")


def bare_answer(conn: socket.socket) -> None:
    """A minimal HTTP answer, for the bare socket floors."""
    with conn:
        conn.settimeout(2)
        buf = b""

        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(4096)

            if not chunk:
                return

            buf += chunk

        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        )


def classify(exc: BaseException) -> str:
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed-no-response"
    if isinstance(exc, http.client.IncompleteRead):
        return "truncated"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, BrokenPipeError):
        return "broken-pipe"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    return type(exc).__name__


def read_events(path: str) -> list[tuple[str, float]]:
    out = []

    with contextlib.suppress(FileNotFoundError), open(path) as f:
        for line in f:
            parts = line.split()

            if len(parts) >= 2:
                out.append((parts[0], float(parts[1])))

    return out


def fork_context() -> t.Any:
    # A bound app.run cannot be pickled for "spawn"; pytest-flask forces
    # "fork" too.
    return multiprocessing.get_context("fork")


def pkg_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


_PROGRESS: t.TextIO | None = None
T_START = perf()


def progress(msg: str) -> None:
    if _PROGRESS is not None:
        _PROGRESS.write(f"[{perf() - T_START:6.1f}s] {msg}\n")
        _PROGRESS.flush()


@contextlib.contextmanager
def quiet_fds(log_path: str) -> cabc.Iterator[None]:
    """Point fd 1 and 2 at a log file, so that forked servers print their
    banner and request log there rather than into the results.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)

    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


# -- the child processes this run started, and only those --------------------

_POPENS: list[subprocess.Popen[bytes]] = []
_MPROCS: list[t.Any] = []


def cleanup_children() -> None:
    for p in _POPENS:
        kill_group(p)

    for mp in _MPROCS:
        with contextlib.suppress(Exception):
            if mp.is_alive():
                mp.kill()
                mp.join(5)


def kill_group(p: subprocess.Popen[bytes]) -> None:
    """Kill a child started in its own session, with what it started."""
    if p.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(p.pid, signal.SIGKILL)

    with contextlib.suppress(Exception):
        p.wait(timeout=5)


def spawn(
    cmd: list[str],
    log_path: str,
    env: dict[str, str],
    *,
    pipes: bool = False,
) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        p = subprocess.Popen(
            cmd,
            cwd=HERE,
            env=env,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log,
            stderr=log,
            start_new_session=True,
        )

    _POPENS.append(p)
    return p


class ExitWatch:
    """Learns the moment a child exits: a blocking ``wait()`` in a thread.
    ``Popen.wait(timeout=)`` polls in steps of up to 50 ms, which would
    blur the stop times.
    """

    def __init__(self, p: subprocess.Popen[bytes]) -> None:
        self.p = p
        self.at: float | None = None
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        self.p.wait()
        self.at = perf()

    def wait(self, timeout: float) -> float | None:
        """The time of the exit, or ``None`` (and the child is killed)."""
        self._thread.join(timeout)

        if self.at is None:
            kill_group(self.p)

        return self.at


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"

    for key in ("BENCH_EVENT_LOG", "FLASK_APP", "FLASK_DEBUG", "WERKZEUG_RUN_MAIN"):
        env.pop(key, None)

    env.update(extra or {})
    return env


def log_tail(path: str, n: int = 6) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [line.rstrip() for line in f if line.strip()]
    except OSError:
        return ""

    return " | ".join(lines[-n:])


# -- harness: the server-side process of the in-flight measurements ---------


def harness(mode: str) -> int:
    """Serve the app the way ``mode`` says, print ``READY PORT``, stop the
    way that approach stops, print ``STOPPED TIME``, then return from main
    as the program would: the interpreter exits on its own.
    """
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    # Stray prints (the Flask banner) go to the log, not to the protocol.
    os.dup2(2, 1)
    watchdog = threading.Timer(60.0, lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from werkzeug.serving import make_server

    def say(line: str) -> None:
        proto.write(f"{PROTO}{line}\n")
        proto.flush()

    if mode == "thread-post":
        # The main thread only waits; POST /shutdown stops the server.
        server = ServerThread(create_app(), HOST, 0)
        server.start()
        say(f"READY {server.port}")
        server.join(30)
        say(f"STOPPED {perf():.6f}")
        return 0

    app = create_app(extension=False)

    if mode in ("make-server", "naive-nothreads"):
        srv = make_server(HOST, 0, app, threaded=mode == "make-server")
        app.extensions["bench_server"] = srv
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        say(f"READY {srv.port}")
        sys.stdin.readline()  # "stop", or EOF if the orchestrator died
        srv.shutdown()
        th.join(5)
        say(f"STOPPED {perf():.6f}")
        return 0

    if mode == "mp-terminate":
        port = free_port()
        proc = fork_context().Process(
            target=app.run,
            kwargs={"host": HOST, "port": port, "use_reloader": False},
            daemon=True,
        )
        proc.start()
        wait_ready(port, perf(), alive=proc.is_alive)
        say(f"READY {port}")
        sys.stdin.readline()
        proc.terminate()
        proc.join(5)
        say(f"STOPPED {perf():.6f}")
        return 0

    say(f"ERROR unknown mode {mode}")
    return 2


class Harness:
    """The orchestrator's side of a harness process."""

    def __init__(self, mode: str, log_path: str, env: dict[str, str]) -> None:
        cmd = [sys.executable, os.path.abspath(__file__), "--harness", mode]
        self.p = spawn(cmd, log_path, env, pipes=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None

        for raw in self.p.stdout:
            line = raw.decode(errors="replace").strip()

            if line.startswith(PROTO):
                self.lines.put(line[len(PROTO) :])

        self.lines.put(None)

    def expect(self, word: str, timeout: float) -> str:
        deadline = perf() + timeout

        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - perf()))
            except queue.Empty:
                raise TimeoutError(
                    f"The harness sent no {word} in {timeout:.0f} s."
                ) from None

            if line is None:
                raise RuntimeError(f"The harness exited before {word}.")

            if line.startswith(word + " "):
                return line.split()[1]

    def send_stop(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(b"stop\n")
        self.p.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.p.stdin is not None
            self.p.stdin.close()


# -- measurements -------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One approach's samples. Times are in seconds."""

    key: str
    label: str
    samples: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    trials: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    skipped: str | None = None

    @property
    def n(self) -> int:
        if self.trials:
            return len(self.trials)

        if "stop" in self.samples:
            return len(self.samples["stop"])

        return max((len(v) for v in self.samples.values()), default=0)


@dataclasses.dataclass
class Running:
    """A server under an in-flight measurement.

    ``trigger`` starts the stop. ``finish(timeout)`` waits for it to end
    and returns ``(stopped_at, exited_at)``: when the server stopped
    (serving thread joined, or process gone) and when its process exited
    (``None`` when the server runs in this process).
    """

    port: int
    trigger: cabc.Callable[[], None]
    finish: cabc.Callable[[float], tuple[float | None, float | None]]
    trigger_outcomes: list[str] = dataclasses.field(default_factory=list)
    trigger_threads: list[threading.Thread] = dataclasses.field(default_factory=list)
    #: The server's log file, for error messages.
    log: str | None = None

    def wait_trigger(self, timeout: float) -> None:
        """Wait for a stop request sent from a thread to get its answer."""
        for th in self.trigger_threads:
            th.join(timeout)


@dataclasses.dataclass
class RealServer:
    """A row of table E: a server command line and how it is stopped."""

    key: str
    label: str
    #: The distribution that provides the server.
    package: str
    cmd: cabc.Callable[[int], list[str]]
    #: The signal that stops it, or ``None`` for ``POST /shutdown``.
    sig: signal.Signals | None
    #: The module under ``flask_shutdown.servers`` that the POST needs.
    adapter: str | None = None
    #: A log line to wait for, and how many times, before it counts as up.
    ready_marker: tuple[str, int] | None = None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.trials: int = args.trials
        self.deadline = T_START + args.budget
        self.rng = random.Random(20261122)
        self.tmp = tempfile.mkdtemp(prefix="flask-shutdown-bench-")
        self.only = {k.strip() for k in args.only.split(",") if k.strip()} or None
        self.rows: dict[str, list[Row]] = collections.defaultdict(list)
        self.facts: list[str] = []
        self._logn = 0
        #: Other work on the machine shows up as outliers; the report
        #: prints the load so a reader can judge a noisy run.
        self.load_start = os.getloadavg()[0]

    # -- plumbing

    def want(self, key: str) -> bool:
        if self.only is None:
            return True

        return any(key.startswith(k) for k in self.only)

    def left(self) -> float:
        return self.deadline - perf()

    def logpath(self, tag: str) -> str:
        self._logn += 1
        return os.path.join(self.tmp, f"{self._logn:03d}-{tag}.log")

    def idle_phase(self) -> None:
        # A random idle time before the stop, so a polling loop is hit at
        # a random phase.
        time.sleep(self.rng.uniform(0.0, 0.5))

    def run_trials(
        self,
        table: str,
        row: Row,
        fn: cabc.Callable[[], dict[str, float]],
        per_trial_s: float,
    ) -> Row:
        errors = []

        for i in range(self.trials):
            if self.left() < per_trial_s:
                row.notes.append(f"time budget hit after {i} trials")
                break

            try:
                for name, value in fn().items():
                    row.samples[name].append(value)
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
                cleanup_children()

        if errors:
            row.notes.append(f"{len(errors)} trials failed: {errors[0]}")

        self.rows[table].append(row)
        progress(f"{row.key}: {row.n} trials done")
        return row

    def skip(self, table: str, key: str, label: str, why: str) -> None:
        self.rows[table].append(Row(key, label, skipped=why))
        progress(f"{key}: {why}")

    # -- A: idle stop latency

    def floor_trial(self, variant: str) -> dict[str, float]:
        t0 = perf()
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((HOST, 0))
        lsock.listen(64)
        port = lsock.getsockname()[1]
        wake_r, wake_w = socket.socketpair()
        sel = selectors.DefaultSelector()

        def accept_loop() -> None:
            while True:
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    return

                bare_answer(conn)

        def select_loop() -> None:
            sel.register(lsock, selectors.EVENT_READ)
            sel.register(wake_r, selectors.EVENT_READ)

            while True:
                for key, _ in sel.select():
                    if key.fileobj is wake_r:
                        return

                    conn, _ = lsock.accept()
                    bare_answer(conn)

        loop = accept_loop if variant == "accept" else select_loop
        th = threading.Thread(target=loop, daemon=True)
        th.start()

        try:
            ready = wait_ready(port, t0)
            self.idle_phase()
            t1 = perf()

            if variant == "accept":
                lsock.shutdown(socket.SHUT_RDWR)
            else:
                wake_w.send(b"x")

            th.join(2)
            stop = perf() - t1
        finally:
            lsock.close()
            sel.close()
            wake_r.close()
            wake_w.close()

        if th.is_alive():
            raise RuntimeError("The accept loop did not stop.")

        return {"ready": ready, "stop": stop}

    def server_thread_trial(self, graceful: bool) -> dict[str, float]:
        app = create_app()
        t0 = perf()
        server = ServerThread(app, HOST, 0)
        server.start()

        try:
            ready = wait_ready(server.port, t0)
            self.idle_phase()
            t1 = perf()

            if graceful:
                server.shutdown()
            else:
                server.stop_serving()

            server.join(5)
            stop = perf() - t1
        finally:
            server.stop_serving()

        if server.is_alive():
            raise RuntimeError("The ServerThread was still alive after 5 s.")

        return {"ready": ready, "stop": stop}

    def make_server_trial(self) -> dict[str, float]:
        from werkzeug.serving import make_server

        app = create_app(extension=False)
        t0 = perf()
        srv = make_server(HOST, 0, app, threaded=True)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()

        try:
            ready = wait_ready(srv.port, t0)
            self.idle_phase()
            t1 = perf()
            srv.shutdown()
            th.join(5)
            stop = perf() - t1
        finally:
            srv.server_close()

        if th.is_alive():
            raise RuntimeError("serve_forever was still running after 5 s.")

        return {"ready": ready, "stop": stop}

    # -- B: POST to stopped, idle server

    def post_thread_trial(self) -> dict[str, float]:
        app = create_app()
        server = ServerThread(app, HOST, 0)
        server.start()
        return self._post_and_join(
            server.port, "/shutdown", AUTH, server.join, server.stop_serving, 202
        )

    def post_naive_trial(self) -> dict[str, float]:
        from werkzeug.serving import make_server

        app = create_app(extension=False)
        srv = make_server(HOST, 0, app, threaded=True)
        app.extensions["bench_server"] = srv
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()

        def force_stop() -> None:
            if th.is_alive():
                srv.shutdown()

            srv.server_close()

        return self._post_and_join(
            srv.port, "/stop-server", {}, th.join, force_stop, 200
        )

    def _post_and_join(
        self,
        port: int,
        path: str,
        headers: dict[str, str],
        join: cabc.Callable[[float], None],
        force_stop: cabc.Callable[[], None],
        expect: int,
    ) -> dict[str, float]:
        try:
            wait_ready(port, perf())
            self.idle_phase()
            joined: list[float] = []

            def watch() -> None:
                join(5)
                joined.append(perf())

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            t1 = perf()
            status, _ = http_request(
                port, path, method="POST", headers=headers, timeout=5
            )
            t_resp = perf()
            watcher.join(6)
        finally:
            force_stop()

        if status != expect:
            raise RuntimeError(f"POST {path} answered {status}, not {expect}.")

        if not joined:
            raise RuntimeError("The serving thread was not joined within 5 s.")

        return {"response": t_resp - t1, "stop": joined[0] - t1}

    def naive_nothreads_check(self) -> str:
        """``shutdown()`` inside a request on a non-threaded server: one
        bounded try in a harness process, which is then killed.
        """
        log = self.logpath("naive-nothreads")
        h = Harness("naive-nothreads", log, child_env())

        try:
            port = int(h.expect("READY", 20))
            t0 = perf()

            try:
                http_request(port, "/stop-server", method="POST", timeout=2.0)
                verdict = f"answered after {perf() - t0:.2f} s (no deadlock)"
            except Exception as e:
                verdict = (
                    f"no answer after {perf() - t0:.1f} s ({classify(e)}): deadlock,"
                    " the serving thread waits for itself"
                )
        except Exception as e:
            verdict = f"check failed: {e}; log: {log_tail(log)}"
        finally:
            kill_group(h.p)
            h.close()

        return verdict

    # -- D: test fixtures

    def live_server_trial(self) -> dict[str, float]:
        from pytest_flask.live_server import LiveServer

        app = create_app()
        port = free_port()

        with quiet_fds(self.logpath("live-server")):
            t0 = perf()
            ls = LiveServer(app, HOST, port, 10, clean_stop=True)
            ls.start()
            _MPROCS.append(ls._process)
            ready = wait_ready(port, t0)
            self.idle_phase()
            t1 = perf()
            ls.stop()
            stop = perf() - t1

        if ls._process.is_alive():
            ls._process.kill()
            raise RuntimeError("The LiveServer process was alive after stop().")

        return {"ready": ready, "stop": stop}

    # -- in-flight

    def inflight(
        self,
        table: str,
        row: Row,
        start: cabc.Callable[[dict[str, str]], Running],
        per_trial_s: float = 2.5,
    ) -> Row:
        errors = []
        outcomes: collections.Counter[str] = collections.Counter()

        for i in range(self.trials):
            if self.left() < per_trial_s:
                row.notes.append(f"time budget hit after {i} trials")
                break

            ev = os.path.join(self.tmp, f"events-{row.key}-{i}.log")

            try:
                trial, running = self.inflight_trial(start, ev)
                row.trials.append(trial)
                outcomes.update(running.trigger_outcomes)
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
                cleanup_children()

        if outcomes:
            row.notes.append(
                "the stop request itself got: "
                + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            )

        if errors:
            row.notes.append(f"{len(errors)} trials failed: {errors[0]}")

        self.rows[table].append(row)
        progress(f"{row.key}: {row.n} in-flight trials done")
        return row

    def inflight_trial(
        self, start: cabc.Callable[[dict[str, str]], Running], ev_path: str
    ) -> tuple[dict[str, t.Any], Running]:
        running = start(child_env({"BENCH_EVENT_LOG": ev_path}))
        # Settle: every worker up, no connection in progress.
        time.sleep(0.3)
        barrier = threading.Barrier(N_INFLIGHT + 1)
        results: list[tuple[str, float] | None] = [None] * N_INFLIGHT

        def client(i: int) -> None:
            barrier.wait(5)

            try:
                status, body = http_request(running.port, "/sleep", timeout=5)
                ok = status == 200 and body == b"slept"
                results[i] = ("ok" if ok else f"http-{status}", perf())
            except Exception as e:
                results[i] = (classify(e), perf())

        threads = [
            threading.Thread(target=client, args=(i,), daemon=True)
            for i in range(N_INFLIGHT)
        ]

        for th in threads:
            th.start()

        barrier.wait(5)
        t0 = perf()
        time.sleep(max(0.0, t0 + TRIGGER_AFTER_S - perf()))
        t_trig = perf()
        running.trigger()
        stopped_at, exited_at = running.finish(15)
        running.wait_trigger(5)

        for th in threads:
            th.join(10)

        events = read_events(ev_path)
        done = [r for r in results if r is not None]
        ok_times = [at for outcome, at in done if outcome == "ok"]
        sent = [at for kind, at in events if kind == "sent"]
        nan = float("nan")
        trial = {
            "in_view": sum(1 for k, at in events if k == "enter" and at < t_trig),
            "ok": len(ok_times),
            "lost": N_INFLIGHT - len(ok_times),
            "stopped": nan if stopped_at is None else stopped_at - t_trig,
            "exit": nan if exited_at is None else exited_at - t_trig,
            "after_last": (
                nan if stopped_at is None or not sent else stopped_at - max(sent)
            ),
            "fail": collections.Counter(o for o, _ in done if o != "ok"),
        }
        return trial, running

    def post_trigger(
        self, port: int, outcomes: list[str], threads: list[threading.Thread]
    ) -> cabc.Callable[[], None]:
        """A trigger that sends ``POST /shutdown`` from its own thread, as
        an operator's client would.
        """

        def send() -> None:
            try:
                status, _ = http_request(
                    port, "/shutdown", method="POST", headers=AUTH, timeout=10
                )
                outcomes.append(f"http-{status}")
            except Exception as e:
                outcomes.append(classify(e))

        def trigger() -> None:
            th = threading.Thread(target=send, daemon=True)
            threads.append(th)
            th.start()

        return trigger

    def harness_start(self, mode: str) -> cabc.Callable[[dict[str, str]], Running]:
        def start(env: dict[str, str]) -> Running:
            log = self.logpath(f"harness-{mode}")
            h = Harness(mode, log, env)

            try:
                port = int(h.expect("READY", 20))
            except Exception as e:
                kill_group(h.p)
                raise RuntimeError(f"{e} Log: {log_tail(log)}") from None

            outcomes: list[str] = []
            threads: list[threading.Thread] = []
            watch: list[ExitWatch] = []

            if mode == "thread-post":
                post = self.post_trigger(port, outcomes, threads)

                def trigger() -> None:
                    watch.append(ExitWatch(h.p))
                    post()

            else:

                def trigger() -> None:
                    watch.append(ExitWatch(h.p))
                    h.send_stop()

            def finish(timeout: float) -> tuple[float | None, float | None]:
                try:
                    stopped_at: float | None = float(h.expect("STOPPED", timeout))
                except Exception:
                    stopped_at = None

                exited_at = watch[0].wait(timeout)
                h.close()
                return stopped_at, exited_at

            return Running(port, trigger, finish, outcomes, threads, log)

        return start

    def fixture_ours_start(self, env: dict[str, str]) -> Running:
        os.environ["BENCH_EVENT_LOG"] = env["BENCH_EVENT_LOG"]
        server = ServerThread(create_app(), HOST, 0)
        server.start()
        wait_ready(server.port, perf())

        def finish(timeout: float) -> tuple[float | None, float | None]:
            server.join(timeout)
            stopped = None if server.is_alive() else perf()
            server.stop_serving()
            os.environ.pop("BENCH_EVENT_LOG", None)
            return stopped, None

        return Running(server.port, server.shutdown, finish)

    def fixture_live_server_start(self, env: dict[str, str]) -> Running:
        from pytest_flask.live_server import LiveServer

        os.environ["BENCH_EVENT_LOG"] = env["BENCH_EVENT_LOG"]
        port = free_port()

        with quiet_fds(self.logpath("live-server-inflight")):
            ls = LiveServer(create_app(), HOST, port, 10, clean_stop=True)
            ls.start()

        _MPROCS.append(ls._process)
        wait_ready(port, perf())

        def finish(timeout: float) -> tuple[float | None, float | None]:
            ls._process.join(timeout)
            alive = ls._process.is_alive()
            at = None if alive else perf()

            if alive:
                ls._process.kill()

            os.environ.pop("BENCH_EVENT_LOG", None)
            return at, at

        return Running(port, ls.stop, finish)

    # -- E: real servers

    def gunicorn_cmd(self, port: int) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--bind",
            f"{HOST}:{port}",
        ]

        if self.gunicorn_control_socket:
            # gunicorn 25+ opens a control socket under $HOME by default.
            self._logn += 1
            ctl = os.path.join(self.tmp, f"gunicorn-{self._logn}.ctl")
            cmd += ["--control-socket", ctl]

        return [*cmd, "bench:create_app()"]

    def flask_run_cmd(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "bench:create_app",
            "run",
            "--host",
            HOST,
            "--port",
            str(port),
            "--no-reload",
        ]

    def waitress_cmd(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "waitress",
            f"--listen={HOST}:{port}",
            "--call",
            "bench:create_app",
        ]

    def uwsgi_cmd(self, port: int) -> list[str]:
        # The master FIFO is uWSGI's one graceful stop; POST /shutdown
        # writes "q" to it. The stopper thread needs --enable-threads.
        self._logn += 1
        fifo = os.path.join(self.tmp, f"uwsgi-{self._logn}.fifo")
        return [
            os.path.join(os.path.dirname(sys.executable), "uwsgi"),
            "--master",
            "--processes",
            "2",
            "--http-socket",
            f"{HOST}:{port}",
            "--module",
            "bench:create_app()",
            "--need-app",
            "--enable-threads",
            "--master-fifo",
            fifo,
        ]

    def process_start(
        self,
        tag: str,
        cmd_for: cabc.Callable[[int], list[str]],
        trigger_sig: signal.Signals | None,
        ready_marker: tuple[str, int] | None = None,
    ) -> cabc.Callable[[dict[str, str]], Running]:
        """A server process stopped by a signal or, with ``trigger_sig``
        ``None``, by ``POST /shutdown``. ``ready_marker`` is a log line
        to wait for and how many times (every gunicorn worker booted).
        """

        def start(env: dict[str, str]) -> Running:
            log = self.logpath(tag)
            t0 = perf()
            # Port 0: the server picks a free port and prints its URL, so no
            # other program can take the port between a check and the bind.
            p = spawn(cmd_for(0), log, env)

            try:
                port = wait_for_port(log, t0 + 30, alive=lambda: p.poll() is None)
                wait_ready(port, t0, timeout=30, alive=lambda: p.poll() is None)

                if ready_marker is not None:
                    text, count = ready_marker
                    deadline = perf() + 10

                    while perf() < deadline:
                        with open(log, errors="replace") as f:
                            if f.read().count(text) >= count:
                                break

                        time.sleep(0.02)
            except Exception as e:
                kill_group(p)
                raise RuntimeError(f"{e} Log: {log_tail(log)}") from None

            self.ready_times[tag].append(perf() - t0)
            outcomes: list[str] = []
            threads: list[threading.Thread] = []
            watch: list[ExitWatch] = []
            post = self.post_trigger(port, outcomes, threads)

            def trigger() -> None:
                watch.append(ExitWatch(p))

                if trigger_sig is None:
                    post()
                else:
                    p.send_signal(trigger_sig)

            def finish(timeout: float) -> tuple[float | None, float | None]:
                at = watch[0].wait(timeout)
                return at, at

            return Running(port, trigger, finish, outcomes, threads, log)

        return start

    def idle_process_trial(
        self, start: cabc.Callable[[dict[str, str]], Running]
    ) -> dict[str, float]:
        running = start(child_env())
        self.idle_phase()
        t1 = perf()
        running.trigger()
        _, exited_at = running.finish(40)
        running.wait_trigger(5)

        log = log_tail(running.log or "", 4)

        if exited_at is None:
            raise RuntimeError(f"The server did not exit within 40 s. Log: {log}")

        if running.trigger_outcomes and running.trigger_outcomes[0] != "http-202":
            raise RuntimeError(
                f"POST /shutdown got {running.trigger_outcomes[0]}. Log: {log}"
            )

        return {"stop": exited_at - t1}

    def pytest_session(self, key: str, label: str, fixture: str) -> None:
        """A real pytest run of N tests that each use ``fixture`` at
        function scope; setup and teardown phase durations are reported.
        Only the plugin that provides the fixture is loaded, and ``app`` is
        session-scoped, so the phases time the server fixture itself.
        """
        d = os.path.join(self.tmp, f"pytest-{key}")
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, "durations.json")
        pytest_flask = fixture == "live_server"

        with open(os.path.join(d, "pytest.ini"), "w") as f:
            f.write("[pytest]\n")

            if pytest_flask:
                f.write("live_server_scope = function\n")

        with open(os.path.join(d, "conftest.py"), "w") as f:
            f.write(
                textwrap.dedent(
                    """\
                    import json
                    import os

                    import pytest

                    from bench import create_app

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
                )
            )

        with open(os.path.join(d, "test_live.py"), "w") as f:
            f.write(
                textwrap.dedent(
                    f"""\
                    import http.client

                    import pytest

                    @pytest.mark.parametrize("i", range({3 * self.trials}))
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
                "BENCH_PYTEST_OUT": out,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (HERE, os.environ.get("PYTHONPATH")) if p
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
            d,
            d,
        ]
        log = self.logpath(f"pytest-{key}")
        t0 = perf()

        with open(log, "ab") as logf:
            p = subprocess.Popen(
                cmd,
                cwd=d,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        _POPENS.append(p)
        row = Row(key, label)

        try:
            rc = p.wait(timeout=min(90, max(10, self.left())))
        except subprocess.TimeoutExpired:
            kill_group(p)
            row.skipped = "the pytest session timed out"
            self.rows["D"].append(row)
            return

        wall = perf() - t0

        try:
            with open(out) as f:
                reports = json.load(f)
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

        self.rows["D"].append(row)
        progress(f"{key}: pytest session done")

    # -- driver

    def run(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # The sequence logs each shutdown at WARNING; 300 of them are noise.
        logging.getLogger("flask_shutdown").setLevel(logging.ERROR)
        self.ready_times: dict[str, list[float]] = collections.defaultdict(list)
        have_ptf = pkg_version("pytest-flask") is not None
        have_gunicorn = pkg_version("gunicorn") is not None
        self.gunicorn_control_socket = False

        if have_gunicorn:
            from gunicorn.config import KNOWN_SETTINGS

            self.gunicorn_control_socket = any(
                s.name == "control_socket" for s in KNOWN_SETTINGS
            )

        # A: idle stop latency, in this process, before it has more threads.
        if self.want("F1"):
            self.run_trials(
                "A",
                Row("F1", "F1 floor: bare accept(), shutdown(SHUT_RDWR)"),
                lambda: self.floor_trial("accept"),
                0.6,
            )

        if self.want("F2"):
            self.run_trials(
                "A",
                Row("F2", "F2 floor: selector + socketpair wake-up"),
                lambda: self.floor_trial("selector"),
                0.6,
            )

        if self.want("A1"):
            self.run_trials(
                "A",
                Row("A1", "A1 ServerThread.shutdown() (extension, no hooks)"),
                lambda: self.server_thread_trial(graceful=True),
                0.6,
            )

        if self.want("A2"):
            self.run_trials(
                "A",
                Row("A2", "A2 ServerThread.stop_serving()"),
                lambda: self.server_thread_trial(graceful=False),
                0.6,
            )

        if self.want("A3"):
            self.run_trials(
                "A",
                Row("A3", "A3 make_server + serve_forever, shutdown()"),
                self.make_server_trial,
                1.2,
            )

        # B: POST to stopped, idle server.
        if self.want("B1"):
            self.run_trials(
                "B",
                Row("B1", "B1 ServerThread, POST /shutdown (token)"),
                self.post_thread_trial,
                0.6,
            )

        if self.want("B2"):
            self.run_trials(
                "B",
                Row("B2", "B2 make_server, naive shutdown() in view"),
                self.post_naive_trial,
                1.2,
            )

        if self.want("B3") and self.left() > 10:
            self.facts.append(
                "naive shutdown() in a view on make_server(threaded=False): "
                + self.naive_nothreads_check()
            )

        # D: test fixtures, start/stop on an idle server. D1 runs before
        # anything in this process forks: after a fork every page the parent
        # writes costs a fault, which would slow the next in-process server.
        if self.want("D1"):
            self.run_trials(
                "D",
                Row("D1", "D1 ServerThread(port=0) + shutdown()"),
                lambda: self.server_thread_trial(graceful=True),
                0.6,
            )

        if self.want("D2"):
            if have_ptf:
                self.run_trials(
                    "D",
                    Row("D2", "D2 pytest-flask LiveServer, stop()"),
                    self.live_server_trial,
                    1.0,
                )
            else:
                self.skip("D", "D2", "D2 pytest-flask LiveServer", "not installed")

        if self.want("D3"):
            fixture = self.plugin_fixture()

            if fixture is None:
                self.skip(
                    "D",
                    "D3",
                    "D3 pytest session, flask_shutdown fixture",
                    "not run: the flask_shutdown pytest plugin has no server fixture",
                )
            else:
                self.pytest_session(
                    "D3", f"D3 pytest session, {fixture} (fn scope)", fixture
                )

        if self.want("D4"):
            if have_ptf:
                self.pytest_session(
                    "D4", "D4 pytest session, live_server (fn scope)", "live_server"
                )
            else:
                self.skip("D", "D4", "D4 pytest-flask live_server", "not installed")

        # C: in-flight, the server side in a harness process.
        if self.want("C1"):
            self.inflight(
                "C",
                Row("C1", "C1 ServerThread, POST /shutdown"),
                self.harness_start("thread-post"),
            )

        if self.want("C2"):
            self.inflight(
                "C",
                Row("C2", "C2 make_server, shutdown()"),
                self.harness_start("make-server"),
            )

        if self.want("C3"):
            self.inflight(
                "C",
                Row("C3", "C3 multiprocessing app.run, terminate()"),
                self.harness_start("mp-terminate"),
            )

        # D: in-flight at the fixture's stop, in this process.
        if self.want("D1"):
            self.inflight(
                "DI",
                Row("D1", "D1 ServerThread(port=0) + shutdown()"),
                self.fixture_ours_start,
            )

        if self.want("D2") and have_ptf:
            self.inflight(
                "DI",
                Row("D2", "D2 pytest-flask LiveServer, stop()"),
                self.fixture_live_server_start,
            )

        self.run_real_servers()

    def plugin_fixture(self) -> str | None:
        """The name of the server fixture of the project's pytest plugin,
        or ``None`` while it has none.
        """
        try:
            from flask_shutdown import pytest_plugin
        except ImportError:
            return None

        for name in ("live_server", "shutdown_server", "server_thread", "server"):
            if hasattr(pytest_plugin, name):
                return name

        return None

    def run_real_servers(self) -> None:
        """E: real servers as subprocesses, stopped by their usual signal
        and by ``POST /shutdown``. A POST row names the adapter module it
        needs; without that module, or without the server, the row says
        so. To add a server, add its command and rows here.
        """
        gunicorn = ("Booting worker", 2)
        uwsgi = ("spawned uWSGI worker", 2)
        specs = [
            RealServer(
                "E1",
                "gunicorn 2 sync workers, SIGTERM",
                "gunicorn",
                self.gunicorn_cmd,
                signal.SIGTERM,
                ready_marker=gunicorn,
            ),
            RealServer(
                "E2",
                "gunicorn 2 sync workers, POST /shutdown",
                "gunicorn",
                self.gunicorn_cmd,
                None,
                "gunicorn",
                gunicorn,
            ),
            RealServer(
                "E3", "flask run, SIGINT", "flask", self.flask_run_cmd, signal.SIGINT
            ),
            RealServer(
                "E4",
                "flask run, POST /shutdown",
                "flask",
                self.flask_run_cmd,
                None,
                "werkzeug_run",
            ),
            RealServer(
                "E5",
                "waitress-serve, SIGINT",
                "waitress",
                self.waitress_cmd,
                signal.SIGINT,
            ),
            RealServer(
                "E6",
                "waitress-serve, POST /shutdown",
                "waitress",
                self.waitress_cmd,
                None,
                "waitress",
            ),
            RealServer(
                "E7",
                "uWSGI --master, 2 workers, SIGINT",
                "uwsgi",
                self.uwsgi_cmd,
                signal.SIGINT,
                ready_marker=uwsgi,
            ),
            RealServer(
                "E8",
                "uWSGI --master, 2 workers, POST /shutdown",
                "uwsgi",
                self.uwsgi_cmd,
                None,
                "uwsgi",
                uwsgi,
            ),
        ]

        for spec in specs:
            if not self.want(spec.key):
                continue

            label = f"{spec.key} {spec.label}"
            module = f"flask_shutdown.servers.{spec.adapter}" if spec.adapter else None
            why = None

            if pkg_version(spec.package) is None:
                why = f"not run: {spec.package} not installed"
            elif module is not None and not has_module(module):
                why = f"not run: adapter missing ({module})"

            if why is not None:
                self.skip("E", spec.key, label, why)
                self.skip("EI", spec.key, label, why)
                continue

            tag = f"{spec.key}-{spec.package}"
            start = self.process_start(tag, spec.cmd, spec.sig, spec.ready_marker)
            per_trial = 6.0 if spec.package == "gunicorn" else 3.0
            self.ready_times.clear()
            row = self.run_trials(
                "E",
                Row(spec.key, label),
                lambda s=start: self.idle_process_trial(s),
                per_trial,
            )
            row.samples["ready"] = list(self.ready_times[tag])
            self.inflight("EI", Row(spec.key, label), start, per_trial)

    # -- report

    def report(self, total: float) -> str:
        out: list[str] = []
        add = out.append
        vers = ", ".join(
            f"{n} {pkg_version(n) or 'not installed'}"
            for n in (
                "flask-shutdown",
                "flask",
                "werkzeug",
                "gunicorn",
                "pytest",
                "pytest-flask",
            )
        )
        add("Flask-Shutdown benchmark (bench/bench.py)")
        add(
            f"Python {platform.python_version()} on {platform.system()}"
            f" {platform.machine()}, {os.cpu_count()} CPUs; {vers}"
        )
        add(
            f"trials per row: {self.trials}; every server on {HOST}, ephemeral"
            f" ports; run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        )
        w = 50

        def lat_table(table: str, cols: list[tuple[str, str]]) -> None:
            head = "".join(f" {title:<24}" for _, title in cols)
            add(f"   {'approach':<{w}} {'n':>3} {head}")

            for row in self.rows.get(table, []):
                if row.skipped:
                    add(f"   {row.label:<{w}} {'-':>3}  {row.skipped}")
                    continue

                cells = "".join(f" {ms(row.samples.get(c, [])):<24}" for c, _ in cols)
                add(f"   {row.label:<{w}} {row.n:>3} {cells}")

            for row in self.rows.get(table, []):
                stop = clean(row.samples.get("stop", []))
                notes = list(row.notes)

                if stop and table in ("A", "B"):
                    fast = sum(1 for x in stop if x < 0.02)
                    notes.insert(
                        0,
                        f"stop mean {fmt(statistics.mean(stop))} ms;"
                        f" {fast}/{len(stop)} under 20 ms",
                    )

                if notes:
                    add(f"   [{row.key}] " + "; ".join(notes))

        def inflight_table(table: str) -> None:
            add(
                f"   {'approach':<{w}} {'n':>3}  {'in-view':<9} {'complete':<9}"
                f" {'lost':<9} {'stopped ms':<21} {'exit ms':<21}"
                f" {'after-last ms':<21} client failures"
            )

            for row in self.rows.get(table, []):
                if row.skipped:
                    add(f"   {row.label:<{w}} {'-':>3}  {row.skipped}")
                    continue

                tr = row.trials
                fails: collections.Counter[str] = collections.Counter()

                for trial in tr:
                    fails.update(trial["fail"])

                failures = ", ".join(f"{k} {v}" for k, v in fails.most_common()) or "-"
                add(
                    f"   {row.label:<{w}} {len(tr):>3}"
                    f"  {cnt([x['in_view'] for x in tr]):<9}"
                    f" {cnt([x['ok'] for x in tr]):<9}"
                    f" {cnt([x['lost'] for x in tr]):<9}"
                    f" {ms([x['stopped'] for x in tr]):<21}"
                    f" {ms([x['exit'] for x in tr]):<21}"
                    f" {ms([x['after_last'] for x in tr]):<21} {failures}"
                )

            for row in self.rows.get(table, []):
                if row.notes:
                    add(f"   [{row.key}] " + "; ".join(row.notes))

        if self.rows.get("A"):
            add("")
            add("A) idle stop latency, ms: median [min..max]")
            add(
                "   start = construct -> first 200 on GET /; stop = stop call ->"
                " serving thread joined;"
            )
            add("   the stop comes at a random 0-0.5 s after the last request")
            lat_table("A", [("ready", "start->ready"), ("stop", "stop")])

        if self.rows.get("B"):
            add("")
            add("B) POST to stopped on an idle server, ms: median [min..max]")
            add(
                "   from sending the POST to: the client holding the whole response;"
                " the serving thread joined"
            )
            lat_table("B", [("response", "POST->response"), ("stop", "POST->stopped")])

        if self.rows.get("C"):
            add("")
            add(
                f"C) in-flight: {N_INFLIGHT} concurrent GET /sleep ({SLEEP_S} s each),"
                f" stop triggered {TRIGGER_AFTER_S} s after they start;"
            )
            add(
                "   the server runs in a harness process that returns from main once"
                " the server stopped. Per trial,"
            )
            add(
                "   median [min..max]: in-view = in the view at the trigger; complete"
                " = full 200 with the body;"
            )
            add(
                "   stopped = trigger -> serving thread joined (C3: child process"
                " joined); exit = trigger -> harness"
            )
            add(
                "   process gone; after-last = stopped - the moment the server had"
                " written the last /sleep"
            )
            add("   response (taken in the server's process)")
            inflight_table("C")

        if self.rows.get("D") or self.rows.get("DI"):
            add("")
            add("D) test servers: the fixture's engine, idle start/stop, ms")
            add(
                "   start = construct -> first 200 (D3/D4: pytest setup phase);"
                " stop = stop call returned (D3/D4: teardown)"
            )
            lat_table("D", [("ready", "start->ready"), ("stop", "stop")])
            add(
                f"   in-flight at stop: {N_INFLIGHT} x GET /sleep ({SLEEP_S} s), stop"
                f" called {TRIGGER_AFTER_S} s in, in this process;"
            )
            add("   stopped = trigger -> the stop call returned and the server is gone")
            inflight_table("DI")

        if self.rows.get("E") or self.rows.get("EI"):
            add("")
            add("E) real servers as subprocesses, ms: median [min..max]")
            add(
                "   start = spawn -> first 200 (gunicorn: and both workers booted);"
                " stop = trigger -> process exited,"
            )
            add("   idle server, trigger at a random 0-0.5 s after the last request")
            lat_table("E", [("ready", "start->ready"), ("stop", "trigger->exit")])
            add(
                f"   in-flight: {N_INFLIGHT} x GET /sleep ({SLEEP_S} s), trigger"
                f" {TRIGGER_AFTER_S} s in; stopped = exit = trigger -> process gone"
            )
            inflight_table("EI")

        ratios = self.ratios()

        if ratios:
            add("")
            add("R) ratios and targets: of the medians, means and maxima above")
            out.extend(f"   - {line}" for line in ratios)

        if self.facts:
            add("")
            add("F) facts checked on this install")
            out.extend(f"   - {line}" for line in self.facts)

        add(
            f"total wall time: {total:.1f} s; load average (1 min) at the start"
            f" {self.load_start:.2f}, at the end {os.getloadavg()[0]:.2f}"
        )
        return "\n".join(out)

    def find(self, table: str, key: str) -> Row | None:
        for row in self.rows.get(table, []):
            if row.key == key and not row.skipped:
                return row

        return None

    def ratios(self) -> list[str]:
        lines = []

        def stat(row: Row | None, name: str, how: str = "median") -> float | None:
            if row is None:
                return None

            xs = clean(row.samples.get(name, []))

            if not xs:
                return None

            if how == "max":
                return max(xs)

            return statistics.median(xs) if how == "median" else statistics.mean(xs)

        def ratio(
            text: str,
            a: Row | None,
            b: Row | None,
            name: str,
            target: float | None = None,
        ) -> None:
            parts = []

            for how in ("median", "mean", "max"):
                x, y = stat(a, name, how), stat(b, name, how)

                if x is None or y is None or y <= 0:
                    return

                parts.append((how, x, y, x / y))

            line = f"{text}: " + "; ".join(
                f"{how} {fmt(x)} / {fmt(y)} ms = {r:,.{1 if r < 10 else 0}f}x"
                for how, x, y, r in parts
            )

            if target is not None:
                met = parts[0][3] >= target
                line += (
                    f" (target: median >= {target:g}x: {'met' if met else 'NOT met'})"
                )

            lines.append(line)

        a1, a2, a3 = (self.find("A", k) for k in ("A1", "A2", "A3"))
        ratio(
            "idle stop, A3 make_server / A1 ServerThread.shutdown()",
            a3,
            a1,
            "stop",
            100,
        )
        ratio(
            "idle stop, A3 make_server / A2 ServerThread.stop_serving()", a3, a2, "stop"
        )
        ratio(
            "idle stop, A1 shutdown() / F2 selector floor",
            a1,
            self.find("A", "F2"),
            "stop",
        )
        ratio(
            "POST to stopped, B2 naive make_server / B1 ServerThread",
            self.find("B", "B2"),
            self.find("B", "B1"),
            "stop",
        )

        c1 = self.find("C", "C1")

        if c1 is not None and c1.trials:
            after = clean([x["after_last"] for x in c1.trials])
            lost = sum(x["lost"] for x in c1.trials)

            if after:
                met = sum(1 for x in after if x <= 0.005)
                lines.append(
                    "in-flight, C1 stopped - last response written:"
                    f" {ms(after)} ms (target within 5 ms: met in {met}/{len(after)}"
                    f" trials); requests lost over all trials: {lost}"
                )

        d1, d2 = self.find("D", "D1"), self.find("D", "D2")
        ratio("fixture start, D2 LiveServer / D1 ServerThread", d2, d1, "ready", 5)
        ratio("fixture stop, D2 LiveServer / D1 ServerThread", d2, d1, "stop", 1)
        ratio(
            "pytest setup, D4 live_server / D3 flask_shutdown fixture",
            self.find("D", "D4"),
            self.find("D", "D3"),
            "ready",
            5,
        )
        ratio(
            "pytest teardown, D4 live_server / D3 flask_shutdown fixture",
            self.find("D", "D4"),
            self.find("D", "D3"),
            "stop",
            1,
        )

        for row in self.rows.get("DI", []):
            if row.trials:
                lost = sum(x["lost"] for x in row.trials)
                lines.append(
                    f"in-flight at fixture stop, {row.key}: {lost} of"
                    f" {N_INFLIGHT * len(row.trials)} requests lost"
                )

        for row in self.rows.get("EI", []):
            if row.trials:
                ok = sum(x["ok"] for x in row.trials)
                lines.append(
                    f"in-flight, {row.label.split(' ', 1)[1]}: {ok} of"
                    f" {N_INFLIGHT * len(row.trials)} requests completed"
                )

        return lines


# -- formatting -----------------------------------------------------------------


def clean(xs: cabc.Iterable[float]) -> list[float]:
    return [x for x in xs if x == x]


def fmt(seconds: float) -> str:
    v = seconds * 1000.0

    if abs(v) < 10:
        return f"{v:.2f}"

    if abs(v) < 100:
        return f"{v:.1f}"

    return f"{v:.0f}"


def ms(xs: cabc.Iterable[float]) -> str:
    ys = clean(xs)

    if not ys:
        return "n/a"

    return f"{fmt(statistics.median(ys))} [{fmt(min(ys))}..{fmt(max(ys))}]"


def cnt(xs: list[int]) -> str:
    if not xs:
        return "n/a"

    return f"{statistics.median(xs):g} [{min(xs)}..{max(xs)}]"


def main(argv: list[str] | None = None) -> int:
    global _PROGRESS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per row")
    parser.add_argument(
        "--budget",
        type=float,
        default=360.0,
        help="seconds; no new trial is started past this",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated row keys or prefixes: F,A,B,C,D,E or F1,A3,...",
    )
    parser.add_argument("--harness", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.harness:
        return harness(args.harness)

    # A SIGINT ignored by the parent shell (nohup, a background job) would be
    # inherited by the flask run and LiveServer children and break their stop.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    _PROGRESS = os.fdopen(os.dup(2), "w", buffering=1)

    def hard_abort() -> None:
        progress("hard time limit reached: killing the children, exiting")
        cleanup_children()
        os._exit(2)

    watchdog = threading.Timer(args.budget + 60.0, hard_abort)
    watchdog.daemon = True
    watchdog.start()
    bench = Bench(args)

    try:
        bench.run()
    finally:
        cleanup_children()

    print(bench.report(perf() - T_START), flush=True)
    watchdog.cancel()
    shutil.rmtree(bench.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
