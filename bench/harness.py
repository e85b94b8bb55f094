"""The server-side process of the in-flight rows (C), of the non-threaded
deadlock check (B3) and of the per-request cost over HTTP (G2):
``python -m bench.harness MODE``.

It serves the app the way ``MODE`` says, writes ``READY PORT`` on its
protocol pipe (standard output), stops the way that approach stops (on
``stop`` from standard input, or on its own for ``thread-post``), writes
``STOPPED TIME``, then returns from main as the program would: the
interpreter exits on its own. Anything else it prints goes to standard
error, the orchestrator's log file. :class:`bench.procs.Harness` is the
other end.
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import multiprocessing
import os
import sys
import threading

from flask_shutdown import ServerThread

from .app import create_app
from .app import hello_app
from .common import HOST
from .common import perf
from .net import free_port
from .net import wait_ready

#: Prefix of the lines a harness process writes for the orchestrator.
PROTO = "@@BENCH "

Say = cabc.Callable[[str], None]


def thread_post(say: Say) -> None:
    """C1: ``ServerThread``; the main thread only waits, and a
    ``POST /shutdown`` from the orchestrator stops the server.
    """
    server = ServerThread(create_app(), HOST, 0)
    server.start()
    say(f"READY {server.port}")
    server.join(30)
    say(f"STOPPED {perf():.6f}")


def make_server_threads(say: Say, threaded: bool = True) -> None:
    """C2 (and B3 with ``threaded=False``): ``make_server`` with
    ``serve_forever`` in a thread; ``server.shutdown()`` on ``stop``. The
    app's naive ``POST /stop-server`` view calls the same method.
    """
    from werkzeug.serving import make_server

    app = create_app(extension=False)
    srv = make_server(HOST, 0, app, threaded=threaded)
    app.extensions["bench_server"] = srv
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    say(f"READY {srv.port}")
    sys.stdin.readline()  # "stop", or EOF if the orchestrator died
    srv.shutdown()
    th.join(5)
    say(f"STOPPED {perf():.6f}")


def mp_terminate(say: Say) -> None:
    """C3: ``multiprocessing.Process(target=app.run)``, ``terminate()``
    and ``join()`` on ``stop``.
    """
    app = create_app(extension=False)
    port = free_port()
    # A bound app.run cannot be pickled for "spawn"; pytest-flask forces
    # "fork" too.
    proc = multiprocessing.get_context("fork").Process(
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


def hello_pair(say: Say) -> None:
    """G2: the hello-world app without and with the extension, each on a
    threaded ``ServerThread``, until ``stop``. Serving them here leaves
    the orchestrator's client loop alone with its own interpreter lock.
    """
    servers = [ServerThread(hello_app(extension=ext), HOST, 0) for ext in (False, True)]

    for server in servers:
        server.start()

    say(f"READY {servers[0].port} {servers[1].port}")
    sys.stdin.readline()

    for server in servers:
        server.stop_serving()
        server.join(5)

    say(f"STOPPED {perf():.6f}")


#: The modes, by the name the orchestrator passes.
MODES: dict[str, cabc.Callable[[Say], None]] = {
    "thread-post": thread_post,
    "make-server": make_server_threads,
    "naive-nothreads": lambda say: make_server_threads(say, threaded=False),
    "mp-terminate": mp_terminate,
    "hello-pair": hello_pair,
}
#: Seconds after which a harness exits whatever it is doing, by mode.
WATCHDOG_S = {"hello-pair": 300.0}


def main(argv: list[str]) -> int:
    """Run the mode named by ``argv[0]``."""
    name = argv[0] if argv else ""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    # Stray prints (the Flask banner) go to the log, not to the protocol.
    os.dup2(2, 1)
    watchdog = threading.Timer(WATCHDOG_S.get(name, 60.0), lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def say(line: str) -> None:
        proto.write(f"{PROTO}{line}\n")
        proto.flush()

    mode = MODES.get(name)

    if mode is None:
        say(f"ERROR unknown mode {argv}")
        return 2

    mode(say)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
