"""Following a shutdown: ``GET /shutdown/status?wait=&since=`` answers at
the next phase without holding up the drain, and ``POST
/shutdown?follow=1`` lets the report of ``stopping`` be read before the
server goes. The report says which process answered and whether the
process exits with the exit code.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import typing as t

import pytest
import requests

from flask_shutdown.inflight import InFlight

from .conftest import AppFactory
from .conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_in_flight(app: t.Any, n: int) -> None:
    state = app.extensions["shutdown"]

    for _ in range(1000):
        if len(state.in_flight) >= n:
            return

        threading.Event().wait(0.01)

    raise AssertionError(f"{n} request(s) never in flight")


def test_report_names_the_process_and_what_carries_the_code(
    make_app: AppFactory,
) -> None:
    app, _ = make_app()
    client = app.test_client()
    report = client.get("/shutdown/status", headers=AUTH).json
    assert report["pid"] == os.getpid()
    assert report["exit_code"] is None

    done = client.post("/shutdown", headers=AUTH).json
    assert done["exit_code"] == 0
    report = client.get("/shutdown/status", headers=AUTH).json
    # The test client's answer carries the code, like serve()'s return.
    assert report["server"] == "test-client"
    assert report["exit_code_carried"] is True


@pytest.mark.parametrize(
    "query",
    ["wait=x", "wait=-1", "wait=11", "wait=nan", "wait=1&since=done", "since=x&wait=0"],
)
def test_bad_wait_query(make_app: AppFactory, query: str) -> None:
    app, _ = make_app()
    rv = app.test_client().get(f"/shutdown/status?{query}", headers=AUTH)
    assert rv.status_code == 400
    assert rv.json["error"] == "bad_query"


@pytest.mark.parametrize("value", ["2", "yes", ""])
def test_bad_follow_query(make_app: AppFactory, value: str) -> None:
    app, _ = make_app()
    rv = app.test_client().post(f"/shutdown?follow={value}", headers=AUTH)
    assert rv.status_code == 400
    assert rv.json["error"] == "bad_query"
    assert app.extensions["shutdown"].coordinator.record is None


def test_wait_answers_at_once_when_the_phase_differs(make_app: AppFactory) -> None:
    app, _ = make_app()
    rv = app.test_client().get("/shutdown/status?wait=10&since=draining", headers=AUTH)
    assert rv.json["phase"] == "running"


def test_waiting_read_does_not_hold_up_the_drain(
    make_app: AppFactory, serve: t.Any
) -> None:
    """A read that waits up to 10 s while the drain may take 3: if it
    counted as in flight, the drain would time out.
    """
    app, shutdown = make_app(SHUTDOWN_DRAIN_TIMEOUT=3)
    shutdown.teardown(lambda: None)
    server = serve(app)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(requests.get, f"{server.url}/slow?s=0.5", timeout=30)
        wait_in_flight(app, 1)
        rv = requests.post(f"{server.url}/shutdown", headers=AUTH, timeout=10)
        assert rv.status_code == 202
        read = pool.submit(
            requests.get,
            f"{server.url}/shutdown/status?wait=10&since=draining",
            headers=AUTH,
            timeout=30,
        )
        assert slow.result().text == "slow done"
        report = read.result().json()

    record = app.extensions["shutdown"].coordinator.record
    assert app.extensions["shutdown"].coordinator.wait(10)
    assert record.drain_timed_out is False
    # Woken by the next phase, not by its timeout.
    assert report["phase"] in ("hooks", "stopping", "stopped")


def test_follow_lets_the_stopping_report_be_read(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, shutdown = make_app()

    @shutdown.teardown
    def broken() -> None:
        raise OSError("disk full")

    server = serve(app)
    session = requests.Session()
    rv = session.post(f"{server.url}/shutdown?follow=1", headers=AUTH, timeout=10)
    assert rv.status_code == 202
    since = rv.json()["phase"]
    seen = []

    # As send does: read until the report of stopping, waiting on the
    # server for each change of phase.
    for _ in range(10):
        report = session.get(
            f"{server.url}/shutdown/status?wait=5&since={since}",
            headers=AUTH,
            timeout=30,
        ).json()
        seen.append(report["phase"])
        since = report["phase"]

        if since in ("stopping", "stopped"):
            break

    assert since in ("stopping", "stopped"), seen
    assert [h["status"] for h in report["hooks"]] == ["error"]
    assert report["shutdown_id"] == rv.json()["shutdown_id"]
    server.join(10)
    assert server.stopped


def test_parked_request_does_not_count() -> None:
    in_flight = InFlight()
    ticket = in_flight.enter("GET", "/shutdown/status")
    other = in_flight.enter("GET", "/slow")

    with in_flight.parked(ticket):
        assert len(in_flight) == 1
        assert in_flight.describe()[0].startswith("GET /slow")
        in_flight.leave(other)
        # Idle: only the parked read is left.
        assert in_flight.wait_idle(0)

    assert len(in_flight) == 1
    in_flight.leave(ticket)
    assert len(in_flight) == 0

    with in_flight.parked(None):
        assert len(in_flight) == 0
