"""Stop latency on an idle server, in this process: the socket floors and
``ServerThread`` against ``make_server`` (A), a ``POST`` to the stop (B),
and the deadlock of the naive view on a non-threaded server (B3).
"""

from __future__ import annotations

import collections.abc as cabc
import selectors
import socket
import threading

from flask_shutdown import ServerThread

from .app import create_app
from .common import AUTH
from .common import HOST
from .common import perf
from .net import classify
from .net import http_request
from .net import wait_ready
from .procs import child_env
from .procs import Harness
from .procs import log_tail
from .procs import release
from .runner import Run


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


def floor_trial(run: Run, variant: str) -> dict[str, float]:
    """F1 (``accept``): a blocking ``accept()`` loop stopped by
    ``shutdown(SHUT_RDWR)``; F2 (``selector``): a selector loop woken
    through a socket pair.
    """
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
        run.idle_phase()
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


def server_thread_trial(run: Run, graceful: bool) -> dict[str, float]:
    """A1/D1 (``graceful``): ``ServerThread.shutdown()``; A2:
    ``ServerThread.stop_serving()``.
    """
    app = create_app()
    t0 = perf()
    server = ServerThread(app, HOST, 0)
    server.start()

    try:
        ready = wait_ready(server.port, t0)
        run.idle_phase()
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


def make_server_trial(run: Run) -> dict[str, float]:
    """A3: ``make_server`` with ``serve_forever`` in a thread, stopped by
    ``shutdown()`` from this thread.
    """
    from werkzeug.serving import make_server

    app = create_app(extension=False)
    t0 = perf()
    srv = make_server(HOST, 0, app, threaded=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()

    try:
        ready = wait_ready(srv.port, t0)
        run.idle_phase()
        t1 = perf()
        srv.shutdown()
        th.join(5)
        stop = perf() - t1
    finally:
        srv.server_close()

    if th.is_alive():
        raise RuntimeError("serve_forever was still running after 5 s.")

    return {"ready": ready, "stop": stop}


def post_thread_trial(run: Run) -> dict[str, float]:
    """B1: ``POST /shutdown`` with the token to a ``ServerThread``."""
    app = create_app()
    server = ServerThread(app, HOST, 0)
    server.start()
    return _post_and_join(
        run, server.port, "/shutdown", AUTH, server.join, server.stop_serving, 202
    )


def post_naive_trial(run: Run) -> dict[str, float]:
    """B2: the naive ``POST /stop-server`` view on ``make_server``."""
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

    return _post_and_join(run, srv.port, "/stop-server", {}, th.join, force_stop, 200)


def _post_and_join(
    run: Run,
    port: int,
    path: str,
    headers: dict[str, str],
    join: cabc.Callable[[float], None],
    force_stop: cabc.Callable[[], None],
    expect: int,
) -> dict[str, float]:
    try:
        wait_ready(port, perf())
        run.idle_phase()
        joined: list[float] = []

        def watch() -> None:
            join(5)
            joined.append(perf())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t1 = perf()
        status, _ = http_request(port, path, method="POST", headers=headers, timeout=5)
        t_resp = perf()
        watcher.join(6)
    finally:
        force_stop()

    if status != expect:
        raise RuntimeError(f"POST {path} answered {status}, not {expect}.")

    if not joined:
        raise RuntimeError("The serving thread was not joined within 5 s.")

    return {"response": t_resp - t1, "stop": joined[0] - t1}


def naive_nothreads_check(run: Run) -> str:
    """B3: ``shutdown()`` inside a request on a non-threaded server: one
    bounded try in a harness process, which is then killed.
    """
    log = run.logpath("naive-nothreads")
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
        release(h.proc)
        h.close()

    return verdict
