"""Draining: requests in flight when the shutdown comes all complete, and
the hooks run only after the last one.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import typing as t

import requests
from flask import Response
from flask import stream_with_context

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

N_SLOW = 31


def test_32_in_flight_all_complete_before_hooks(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, shutdown = make_app()
    entered = threading.Semaphore(0)
    finished = []
    lock = threading.Lock()
    seen_by_hook: list[int] = []

    @app.get("/work")
    def work() -> str:
        entered.release()
        time.sleep(0.5)

        with lock:
            finished.append("work")

        return "work done"

    @app.get("/stream")
    def stream() -> Response:
        entered.release()

        def chunks() -> t.Iterator[str]:
            for i in range(5):
                time.sleep(0.1)
                yield f"chunk{i};"

            with lock:
                finished.append("stream")

        return Response(stream_with_context(chunks()))

    @shutdown.teardown
    def hook() -> None:
        with lock:
            seen_by_hook.append(len(finished))

    server = serve(app)

    def get(path: str) -> requests.Response:
        return requests.get(f"{server.url}{path}", timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(get, "/work") for _ in range(N_SLOW)]
        futures.append(pool.submit(get, "/stream"))

        # Bounded wait until every request is inside its view.
        for _ in range(N_SLOW + 1):
            assert entered.acquire(timeout=20)

        rv = requests.post(
            f"{server.url}/shutdown",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert rv.status_code == 202
        results = [f.result(timeout=30) for f in futures]

    assert [r.status_code for r in results] == [200] * (N_SLOW + 1)
    assert [r.text for r in results[:-1]] == ["work done"] * N_SLOW
    assert results[-1].text == "chunk0;chunk1;chunk2;chunk3;chunk4;"
    server.join(10)
    assert not server.is_alive()
    # The hook ran once, after all 32 had finished.
    assert seen_by_hook == [N_SLOW + 1]
    assert app.extensions["shutdown"].status()["drain_timed_out"] is False


def test_drain_timeout_stops_anyway(make_app: AppFactory, serve: t.Any) -> None:
    app, shutdown = make_app(SHUTDOWN_DRAIN_TIMEOUT=0.3)
    release = threading.Event()
    entered = threading.Event()
    ran = []
    shutdown.teardown(lambda: ran.append("hook"))

    @app.get("/hang")
    def hang() -> str:
        entered.set()
        # Never ends on its own within the test; released at the end so
        # the thread does not outlive it.
        release.wait(30)
        return "released"

    server = serve(app)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    hanging = pool.submit(requests.get, f"{server.url}/hang", timeout=30)

    try:
        assert entered.wait(10)
        rv = requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10)
        assert rv.status_code == 202
        server.join(10)
        assert not server.is_alive()
        # The loop may end a moment before the sequence records the stop;
        # until then exit_code is None.
        assert app.extensions["shutdown"].coordinator.wait(5)
        status = app.extensions["shutdown"].status()
        assert status["drain_timed_out"] is True
        assert status["exit_code"] == 2
        assert len(status["still_running"]) == 1
        assert status["still_running"][0].startswith("GET /hang")
        assert ran == ["hook"]
    finally:
        release.set()
        pool.shutdown(wait=True)

    assert hanging.exception() is not None or hanging.result().status_code == 200


def test_new_requests_during_drain_get_503(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app()
    entered = threading.Event()
    release = threading.Event()

    @app.get("/hold")
    def hold() -> str:
        entered.set()
        release.wait(20)
        return "held"

    server = serve(app)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    held = pool.submit(requests.get, f"{server.url}/hold", timeout=30)

    try:
        assert entered.wait(10)
        rv = requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=10)
        assert rv.status_code == 202
        coordinator = app.extensions["shutdown"].coordinator

        for _ in range(500):
            if not coordinator.admitting:
                break

            time.sleep(0.01)

        assert not coordinator.admitting
        refused = requests.get(server.url, timeout=5)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        # Werkzeug's server closes the connection after each response (an
        # HTTP/1.0 response, as before Werkzeug 2.1, needs no header for it).
        assert refused.raw.version == 10 or "close" in refused.headers["Connection"]
        assert refused.json()["error"] == "shutting_down"
        # The status endpoint still answers while draining.
        status = requests.get(
            f"{server.url}/shutdown/status", auth=(USER, PASSWORD), timeout=5
        )
        assert status.json()["phase"] == "draining"
        assert status.json()["in_flight"] == 1
    finally:
        release.set()

    assert held.result(timeout=10).text == "held"
    pool.shutdown()
    server.join(10)
    assert not server.is_alive()
