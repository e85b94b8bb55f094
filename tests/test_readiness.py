"""Readiness flips to 503 the moment a shutdown begins; the drain delay
keeps serving so a load balancer can deregister the instance first.
"""

from __future__ import annotations

import typing as t

import requests

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import USER


def test_ready_then_503_with_drain_delay(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app(SHUTDOWN_DRAIN_DELAY=0.8)
    server = serve(app)
    ready = requests.get(f"{server.url}/shutdown/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "phase": "running"}

    rv = requests.post(f"{server.url}/shutdown", auth=(USER, PASSWORD), timeout=5)
    assert rv.status_code == 202

    # At once: readiness is down...
    ready = requests.get(f"{server.url}/shutdown/ready", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["status"] == "shutting_down"
    # ...but during the drain delay the app still serves normally.
    coordinator = app.extensions["shutdown"].coordinator
    assert coordinator.admitting
    assert requests.get(server.url, timeout=5).text == "ok"

    server.join(10)
    assert not server.is_alive()


def test_no_drain_delay_by_default(make_app: AppFactory) -> None:
    app, _ = make_app()
    assert app.extensions["shutdown"].config.drain_delay == 0


def test_ready_path_configurable_and_unauthenticated(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_READY_PATH="/readyz")
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert client.get("/shutdown/ready").status_code == 404


def test_ready_path_can_be_disabled(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_READY_PATH=False)
    assert app.test_client().get("/shutdown/ready").status_code == 404
