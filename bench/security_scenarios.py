"""The security review's six findings, re-run as scenarios against real
servers, with the figures ``docs/security.rst`` quotes.

Run from the repository root::

    .venv/bin/python bench/security_scenarios.py > bench/security-results.txt

Progress goes to standard error, the results to standard output. Options:
``--only N,N`` runs only the numbered findings (1 to 6), ``--quick``
shortens the long loops (for a smoke run; the figures are then not the
documented ones).

Everything listens on 127.0.0.1 (clients bind other 127.0.0.0/8 source
addresses to play many hosts; Linux routes the whole range to ``lo``).
Every request has a timeout and every loop a bound; the servers started
run in their own sessions and are killed, only them, at the end. Nothing
here asserts a timing: it prints what it measured.

The script is also the app of the servers it starts (``security_scenarios:create_app``,
configured through the ``SECURITY_BENCH_CONFIG`` environment variable as
JSON) and, with ``--serve``, a process serving it with ``ServerThread``.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

from flask import Flask
from flask import request
from werkzeug.security import generate_password_hash

#: A strong static token that may do everything, and one that may only
#: read the status.
TOKEN = "bench-3q8Zk1vN7pL2xR5tW9yB4mC6"
READER = "bench-reader-J4fH8sK2dL6gP0qT3vX7"
USER = "ops"
PASSWORD = "correct horse battery staple"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the app ------------------------------------------------------------------


def create_app(extra: dict[str, t.Any] | None = None) -> Flask:
    from flask_shutdown import Shutdown

    app = Flask("security_bench")
    app.config.update(
        SHUTDOWN_TOKENS={"deploy": TOKEN, "monitor": READER},
        SHUTDOWN_ROLES={"token:monitor": ["status"]},
        # The default method: scrypt, 32 MiB of memory per check.
        SHUTDOWN_USERS={USER: generate_password_hash(PASSWORD)},
    )
    app.config.update(json.loads(os.environ.get("SECURITY_BENCH_CONFIG", "{}")))
    app.config.update(extra or {})

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.get("/slow/<path:rest>")
    def slow(rest: str) -> str:
        time.sleep(float(request.args.get("s", "1")))
        return "done"

    Shutdown(app)
    return app


if "uwsgi" in sys.modules:
    # uWSGI loads "security_scenarios:app"; its embedded module is there.
    app = create_app()


def serve_forever() -> None:
    """``--serve``: the app on a ServerThread, until a shutdown stops it."""
    from flask_shutdown import ServerThread

    server = ServerThread(create_app(), "127.0.0.1", 0)
    server.start()
    print(f"Serving on {server.url}", flush=True)
    server.join()


# -- servers ------------------------------------------------------------------


class Server:
    """A server process in its own session, with its output in a file."""

    def __init__(self, kind: str, tmp: Path, config: dict[str, t.Any]) -> None:
        self.kind = kind
        self.log_path = tmp / f"{kind}-{time.monotonic_ns()}.log"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SECURITY_BENCH_CONFIG": json.dumps(config),
            "PYTHONPATH": os.pathsep.join(
                [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        py = sys.executable
        args, pattern = {
            "ServerThread": (
                [py, str(HERE / "security_scenarios.py"), "--serve"],
                "Serving on http://127.0.0.1:",
            ),
            "flask run": (
                [str(BIN / "flask"), "--app", "security_scenarios:create_app", "run"]
                + ["--host", "127.0.0.1", "--port", "0", "--no-reload"],
                "Running on http://127.0.0.1:",
            ),
            "gunicorn -w 2": (
                [str(BIN / "gunicorn"), "-b", "127.0.0.1:0", "-w", "2"]
                + ["--no-control-socket", "security_scenarios:create_app()"],
                "Listening at: http://127.0.0.1:",
            ),
            "waitress": (
                [str(BIN / "waitress-serve"), "--listen=127.0.0.1:0"]
                + ["--call", "security_scenarios:create_app"],
                "Serving on http://127.0.0.1:",
            ),
            "uWSGI": (
                [str(BIN / "uwsgi"), "--master", "--processes", "2"]
                + ["--http-socket", "127.0.0.1:0", "--module", "security_scenarios:app"]
                + ["--need-app", "--enable-threads"],
                "bound to TCP address 127.0.0.1:",
            ),
        }[kind]
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=HERE,
            start_new_session=True,
        )
        self.port = self._wait_port(pattern)
        self._wait_ready()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_port(self, pattern: str) -> int:
        deadline = time.monotonic() + 60

        while time.monotonic() < deadline:
            text = self.output()
            at = text.find(pattern)

            if at >= 0:
                digits = text[at + len(pattern) :].split()[0].rstrip("/")
                digits = "".join(ch for ch in digits if ch.isdigit())

                if digits:
                    return int(digits)

            if self.popen.poll() is not None:
                break

            time.sleep(0.05)

        raise RuntimeError(f"{self.kind} did not start:\n{self.output()}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60

        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if get(self.port, "/")[0] == 200:
                    if self.kind == "gunicorn -w 2":
                        # Both workers booted.
                        if self.output().count("Booting worker") >= 2:
                            return
                    else:
                        return

            time.sleep(0.05)

        raise RuntimeError(f"{self.kind} is not ready:\n{self.output()}")

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self, timeout: float) -> bool:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False

        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)

        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.kill()


# -- clients ------------------------------------------------------------------


def request_from(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source: str | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection, from ``source`` (a 127.0.0.0/8
    address) when given.
    """
    conn = http.client.HTTPConnection(
        "127.0.0.1",
        port,
        timeout=timeout,
        source_address=None if source is None else (source, 0),
    )

    try:
        conn.request(method, path, body=body, headers=headers or {})
        rv = conn.getresponse()
        return rv.status, {k.lower(): v for k, v in rv.getheaders()}, rv.read()
    finally:
        conn.close()


def get(port: int, path: str, **kwargs: t.Any) -> tuple[int, dict[str, str], bytes]:
    return request_from(port, "GET", path, timeout=10, **kwargs)


def raw(port: int, data: bytes, timeout: float = 10) -> int | None:
    """Send raw bytes and half-close; the status, or ``None`` when the
    connection closed without one.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""

        with contextlib.suppress(OSError):
            while len(received) < 100_000 and (chunk := sock.recv(65536)):
                received += chunk

    if not received.startswith(b"HTTP/"):
        return None

    return int(received.split(b" ", 2)[1])


def loopback(i: int) -> str:
    """The ``i``-th of many loopback addresses, never 127.0.0.1."""
    i += 2
    return f"127.{i // 62500 % 250}.{i // 250 % 250}.{i % 250 + 1}"


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def wrong_bearer(i: int) -> dict[str, str]:
    return {"Authorization": f"Bearer guess-{i:06d}-aB3dE6gH9jK2mN5p"}


def basic(user: str, password: str) -> dict[str, str]:
    import base64

    value = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def vm(pid: int, field: str) -> int:
    """``VmRSS``/``VmHWM`` of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

    raise KeyError(field)


def counted(statuses: t.Iterable[int | None]) -> str:
    c = collections.Counter(statuses)
    return ", ".join(f"{n} x {s}" for s, n in sorted(c.items(), key=str))


# -- finding 1: guessing ------------------------------------------------------


def finding_1(tmp: Path, quick: bool) -> list[str]:
    out = []
    guesses = 200 if quick else 1000

    scenarios: list[tuple[str, dict[str, t.Any]]] = [
        ("default config", {}),
        (
            "each loopback address its own source"
            " (SHUTDOWN_LOCKOUT_SHARED_NETWORKS = [])",
            {"SHUTDOWN_LOCKOUT_SHARED_NETWORKS": []},
        ),
    ]

    for label, config in scenarios:
        with Server("ServerThread", tmp, config) as server:
            log(f"1a rotation, {label}")
            started = time.monotonic()
            statuses = [
                request_from(
                    server.port,
                    "POST",
                    "/shutdown",
                    headers=wrong_bearer(i),
                    source=loopback(i),
                )[0]
                for i in range(guesses)
            ]
            seconds = time.monotonic() - started
            out.append(
                f"1a. {guesses} wrong tokens, each from another 127.0.0.0/8"
                f" address, {label}: {counted(statuses)} in {seconds:.1f} s;"
                f" {statuses.count(401)} reached a credential check"
            )

    # Eviction: lock one address, then one guess from each of many others.
    others = 2000 if quick else 10_000

    eviction: list[tuple[str, dict[str, t.Any]]] = [
        ("default config", {}),
        (
            "no global budget, each loopback address its own source",
            {
                "SHUTDOWN_LOCKOUT_SHARED_NETWORKS": [],
                "SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS": 0,
            },
        ),
    ]

    for label, config in eviction:
        with Server("ServerThread", tmp, config) as server:
            log(f"1b eviction, {label}")
            locked = "127.200.0.1"
            first = [
                request_from(
                    server.port,
                    "POST",
                    "/shutdown",
                    headers=wrong_bearer(i),
                    source=locked,
                )[0]
                for i in range(6)
            ]

            def one(i: int) -> int:
                return request_from(
                    server.port,
                    "POST",
                    "/shutdown",
                    headers=wrong_bearer(i),
                    source=loopback(i),
                )[0]

            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                middle = list(pool.map(one, range(others)))

            after = [
                request_from(
                    server.port,
                    "POST",
                    "/shutdown",
                    headers=wrong_bearer(i),
                    source=locked,
                )[0]
                for i in range(10)
            ]
            out.append(
                f"1b. {label}: {locked} sent 6 wrong tokens ({counted(first)}),"
                f" then {others} other addresses one each ({counted(middle)}),"
                f" then {locked} 10 more: {counted(after)};"
                f" {after.count(401)} fresh guesses after the flood"
            )

    # 60 concurrent Basic guesses from 60 addresses: memory and latency.
    for label, config in [
        ("default config", {}),
        (
            "each loopback address its own source",
            {"SHUTDOWN_LOCKOUT_SHARED_NETWORKS": []},
        ),
    ]:
        with Server("ServerThread", tmp, config) as server:
            log(f"1c concurrent hashes, {label}")
            out.append(f"1c. 60 concurrent Basic guesses from 60 addresses, {label}: ")
            out[-1] += concurrent_guesses(server, 60)

    return out


def concurrent_guesses(server: Server, n: int) -> str:
    # One real hash first, so that idle includes what a check needs once
    # (the hash's code, a thread) and not its peak.
    request_from(server.port, "GET", "/shutdown/status", headers=basic(USER, PASSWORD))
    time.sleep(0.5)
    idle_rss = vm(server.pid, "VmRSS")
    idle_hwm = vm(server.pid, "VmHWM")
    barrier = threading.Barrier(n + 1, timeout=30)
    latencies: list[float] = []
    stop = threading.Event()

    def guess(i: int) -> int:
        barrier.wait()
        return request_from(
            server.port,
            "POST",
            "/shutdown",
            headers=basic(USER, f"guess-{i}"),
            source=loopback(1000 + i),
            timeout=120,
        )[0]

    def probe() -> None:
        barrier.wait()

        for _ in range(200):
            if stop.is_set():
                return

            started = time.perf_counter()
            get(server.port, "/")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n + 1) as pool:
        prober = pool.submit(probe)
        statuses = list(pool.map(guess, range(n)))
        stop.set()
        prober.result()

    peak = vm(server.pid, "VmHWM")
    return (
        f"{counted(statuses)}; server peak RSS {peak / 1024:.0f} MB, idle"
        f" {idle_rss / 1024:.0f} MB (peak before {idle_hwm / 1024:.0f} MB):"
        f" +{(peak - idle_rss) / 1024:.0f} MB;"
        f" GET / latency max {max(latencies):.2f} s over {len(latencies)}"
    )


# -- finding 2: the operator locked out ---------------------------------------

NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(tmp: Path, upstream: int) -> t.Iterator[int]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    conf_dir = Path(tempfile.mkdtemp(dir=tmp))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    conf = conf_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=conf_dir, port=port, upstream=upstream))
    proc = subprocess.Popen(
        [binary, "-p", str(conf_dir), "-c", str(conf), "-e", "stderr"]
        + ["-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    try:
        deadline = time.monotonic() + 15

        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                get(port, "/")
                break

            time.sleep(0.05)

        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

        proc.wait(10)


def rebinding(
    port: int, target: int, seconds: float, operator_after: float, retry: float
) -> str:
    """A rebinding page sends 5 requests/s; the operator sends the valid
    token after ``operator_after`` s, and again every ``retry`` s until it
    gets 202 or ``seconds`` pass.
    """
    host = f"evil.example:{port}"
    page = {
        "Host": host,
        "Origin": f"http://{host}",
        "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Mode": "cors",
        "Content-Type": "text/plain;charset=UTF-8",
    }
    stop = threading.Event()
    attacker: list[int] = []

    def attack() -> None:
        for _ in range(int(seconds * 5) + 5):
            if stop.is_set():
                return

            with contextlib.suppress(OSError):
                attacker.append(
                    request_from(port, "POST", "/shutdown", headers=page, body=b"x")[0]
                )

            stop.wait(0.2)

    thread = threading.Thread(target=attack)
    thread.start()
    operator: list[int] = []
    started = time.monotonic()
    time.sleep(operator_after)

    try:
        while time.monotonic() - started < seconds:
            status = request_from(port, "POST", "/shutdown", headers=BEARER)[0]
            operator.append(status)

            if status == 202:
                break

            time.sleep(retry)
    finally:
        stop.set()
        thread.join(30)

    return (
        f"rebinding page: {counted(attacker)}; operator's valid token:"
        f" {' '.join(map(str, operator))}"
        f" ({f'202 on try {len(operator)}' if 202 in operator else 'never 202'},"
        f" {time.monotonic() - started - operator_after:.0f} s)"
    )


def finding_2(tmp: Path, quick: bool) -> list[str]:
    seconds = 15 if quick else 40
    out = []

    with Server("ServerThread", tmp, {}) as server:
        log("2 rebinding, direct")
        out.append(
            "2a. direct, default config: "
            + rebinding(server.port, server.port, seconds, 3, 5)
        )

    with Server("ServerThread", tmp, {}) as server, nginx(tmp, server.port) as port:
        log("2 rebinding, through nginx")
        out.append(
            "2b. through a same-host nginx (proxy_set_header Host $http_host),"
            " default config: " + rebinding(port, server.port, seconds, 3, 5)
        )

    # The Host check off (the name listed), to show the second defence.
    with Server(
        "ServerThread", tmp, {"SHUTDOWN_TRUSTED_HOSTS": ["evil.example"]}
    ) as server:
        log("2 rebinding, host trusted")
        out.append(
            "2c. direct, the rebinding name listed in SHUTDOWN_TRUSTED_HOSTS: "
            + rebinding(server.port, server.port, seconds, 3, 5)
        )

    return out


# -- finding 3: weak secrets --------------------------------------------------

WEAK_KEYS = [
    "change-me-in-production",
    "super-secret-key",
    "your-secret-key-here",
    "aaaaaaaaaaaaaaaa",
    " " * 16,
]
WEAK_TOKENS = ["aaaaaaaaaaaa", "password1234"]


def init_outcome(config: dict[str, t.Any]) -> str:
    from flask_shutdown import Shutdown

    app = Flask("weak")
    app.config.update(config)

    try:
        Shutdown(app)
    except Exception as e:
        names = [k for k in ("SECRET_KEY", "SHUTDOWN_TOKENS") if k in str(e)]
        return f"refused ({type(e).__name__}, names {'/'.join(names) or 'no key'})"

    return "accepted"


def finding_3(tmp: Path, quick: bool) -> list[str]:
    from itsdangerous import URLSafeTimedSerializer

    out = []

    for key in WEAK_KEYS:
        outcome = init_outcome({"SECRET_KEY": key, "SHUTDOWN_SIGNED_TOKENS": True})
        line = f"3. SECRET_KEY {key!r} with signed tokens: {outcome}"

        if outcome == "accepted":
            config = {"SECRET_KEY": key, "SHUTDOWN_SIGNED_TOKENS": True}

            with Server("ServerThread", tmp, config) as server:
                forged = URLSafeTimedSerializer(key, salt="flask-shutdown.token").dumps(
                    {"jti": "forged", "exp": 300, "scope": ["shutdown", "status"]}
                )
                status = request_from(
                    server.port,
                    "POST",
                    "/shutdown",
                    headers={"Authorization": f"Bearer {forged}"},
                )[0]
                stopped = server.exited(15)
                line += f"; a token forged offline: {status}, server stopped: {stopped}"

        out.append(line)

    for token in WEAK_TOKENS:
        out.append(
            f"3. SHUTDOWN_TOKENS [{token!r}]: "
            + init_outcome({"SHUTDOWN_TOKENS": [token]})
        )

    return out


# -- finding 4: typed config --------------------------------------------------

TYPED = [
    ("SHUTDOWN_SIGNED_TOKENS", "false"),
    ("SHUTDOWN_SIGNED_TOKENS", "0"),
    ("SHUTDOWN_SIGNED_TOKENS", "maybe"),
    ("SHUTDOWN_SIGNED_TOKENS", 1),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", "5"),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", 5.7),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", "five"),
    ("SHUTDOWN_DRAIN_TIMEOUT", float("nan")),
    ("SHUTDOWN_DRAIN_TIMEOUT", "2.5"),
    ("SHUTDOWN_MAX_BODY", "4k"),
    ("SHUTDOWN_ALLOWED_NETWORKS", [2130706433]),
    ("SHUTDOWN_ROLES", {"token:deploy": 5}),
    ("SHUTDOWN_TRUSTED_ORIGINS", [None]),
]


def finding_4(tmp: Path, quick: bool) -> list[str]:
    from flask_shutdown import Shutdown

    out = []

    for key, value in TYPED:
        app = Flask("typed")
        app.config.update(
            SECRET_KEY="bench-Xy7Qp2Lm9Rt4Vw1Zs8Kd3Nf6",
            SHUTDOWN_TOKENS={"deploy": TOKEN},
        )
        app.config[key] = value

        try:
            Shutdown(app)
        except Exception as e:
            outcome = (
                f"{type(e).__name__}"
                f"{', names the key' if key in str(e) else ', does not name the key'}"
            )
        else:
            state = app.extensions["shutdown"]
            field = key.removeprefix("SHUTDOWN_").lower()
            outcome = f"accepted as {getattr(state.config, field, '?')!r}"

        out.append(f"4. {key} = {value!r}: {outcome}")

    return out


# -- finding 5: framing -------------------------------------------------------

FRAMINGS: list[tuple[str, bytes]] = [
    ("Content-Length: abc", b"Content-Length: abc\r\n\r\n{}   "),
    ("Content-Length: -1", b"Content-Length: -1\r\n\r\n{}   "),
    ("Content-Length: 1e3", b"Content-Length: 1e3\r\n\r\n{}   "),
    ("Content-Length: 0x10", b"Content-Length: 0x10\r\n\r\n{}   "),
    ("Content-Length: 5, 5", b"Content-Length: 5, 5\r\n\r\n{}   "),
    ("two Content-Length: 5", b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n{}   "),
    (
        "Content-Length and chunked",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    ),
    ("body shorter than Content-Length", b"Content-Length: 40\r\n\r\n{}   "),
    (
        "chunk longer than its size",
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}  \r\n0\r\n\r\n",
    ),
    (
        "chunk shorter than its size",
        b"Transfer-Encoding: chunked\r\n\r\n9\r\n{}\r\n0\r\n\r\n",
    ),
]


def finding_5(tmp: Path, quick: bool) -> list[str]:
    out = []
    kinds = ["ServerThread", "flask run", "gunicorn -w 2", "waitress", "uWSGI"]

    for kind in kinds:
        results = []
        server: Server | None = None

        try:
            for name, framing in FRAMINGS:
                if server is None:
                    server = Server(kind, tmp, {})

                log(f"5 {kind}: {name}")
                head = (
                    b"POST /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Authorization: Bearer {TOKEN}\r\n".encode()
                    + b"Content-Type: application/json\r\nConnection: close\r\n"
                )

                try:
                    status = raw(server.port, head + framing)
                except OSError as e:
                    status = None
                    name += f" ({type(e).__name__})"

                # Did it start a shutdown? The server goes away.
                started = server.exited(4 if status == 202 else 1)

                if not started:
                    ready = get(server.port, "/shutdown/ready")[0]
                    started = ready != 200

                results.append(
                    f"{name}: {status or 'no answer'}{' STARTED' if started else ''}"
                )

                if started:
                    server.kill()
                    server = None
        finally:
            if server is not None:
                server.kill()

        out.append(f"5. {kind}: " + "; ".join(results))

    return out


# -- finding 6: status leaks ---------------------------------------------------

DB_URL = "postgres://app:pw-Hk83jd92LsQ1@db/app"
RESET = "pwresetTOKEN-8f3a9c2e71b44d0f1a2b3c4d"


def finding_6(tmp: Path, quick: bool) -> list[str]:
    from flask_shutdown import ServerThread

    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Capture()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("flask_shutdown")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stops: list[t.Any] = []
    app = create_app(
        {
            "SHUTDOWN_DRAIN_TIMEOUT": 0.5,
            # Report the stop without stopping, so that the status of the
            # finished shutdown can still be read over HTTP.
            "SHUTDOWN_STRATEGY": stops.append,
        }
    )
    shutdown = app.extensions["shutdown"].extension

    @shutdown.teardown  # type: ignore[untyped-decorator]
    def close_db() -> None:
        raise ConnectionError(f"could not connect to {DB_URL}: timeout")

    server = ServerThread(app, "127.0.0.1", 0)
    server.start()

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(
                get, server.port, f"/slow/reset/{RESET}?s=2&token=qs-secret-123"
            )
            time.sleep(0.3)
            request_from(server.port, "POST", "/shutdown", headers=BEARER)
            app.extensions["shutdown"].coordinator.wait(15)
            status = get(
                server.port,
                "/shutdown/status",
                headers={"Authorization": f"Bearer {READER}"},
            )
            slow.result()
    finally:
        logger.removeHandler(handler)
        # The strategy only reported the stop: stop the loop here.
        server.stop_serving()
        server.join(10)

    body = status[2].decode()
    text = "\n".join(records)
    report = json.loads(body)
    secrets = {"the database password": "pw-Hk83jd92LsQ1", "the reset token": RESET}
    secrets["the query string"] = "qs-secret-123"
    return [
        f"6. status read with a status-only token ({status[0]}):"
        f" still_running {report['still_running']}, hook error"
        f" {[h['error'] for h in report['hooks']]}",
        "6. secrets in the status body: "
        + (", ".join(k for k, v in secrets.items() if v in body) or "none"),
        "6. secrets in the log lines: "
        + (", ".join(k for k, v in secrets.items() if v in text) or "none"),
    ]


# -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3,4,5,6")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve_forever()
        return

    findings = {
        "1": finding_1,
        "2": finding_2,
        "3": finding_3,
        "4": finding_4,
        "5": finding_5,
        "6": finding_6,
    }

    with tempfile.TemporaryDirectory() as tmp:
        for key in args.only.split(","):
            for line in findings[key](Path(tmp), args.quick):
                print(line, flush=True)

    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
