"""Liveness beside readiness, and paths exempt from the drain's 503."""

from __future__ import annotations

import concurrent.futures
import typing as t

import pytest
import requests

from ._servers import start_draining
from .conftest import AppFactory


def test_liveness_and_exempt_paths_answer_through_the_drain(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, _ = make_app(SHUTDOWN_DRAIN_EXEMPT=["/healthz"])
    app.get("/healthz")(lambda: "healthy")
    server = serve(app)
    url = server.url
    assert requests.get(f"{url}/shutdown/live", timeout=10).json() == {
        "status": "alive",
        "phase": "running",
    }

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        # Holds the drain open while the probes run.
        slow = start_draining(pool, app, url, 3)

        live = requests.get(f"{url}/shutdown/live", timeout=10)
        assert live.status_code == 200
        assert live.json()["phase"] == "draining"
        assert requests.get(f"{url}/healthz", timeout=10).text == "healthy"
        assert requests.get(f"{url}/shutdown/ready", timeout=10).status_code == 503
        assert requests.get(f"{url}/", timeout=10).status_code == 503
        assert slow.result().text == "slow done"

    assert server.wait_stopped(10)


def test_liveness_can_be_turned_off(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_LIVE_PATH=False)
    assert app.test_client().get("/shutdown/live").status_code == 404


@pytest.mark.parametrize("value", ["/healthz", ["healthz"], [None]])
def test_bad_exempt_paths_are_refused(make_app: AppFactory, value: object) -> None:
    with pytest.raises(RuntimeError, match="SHUTDOWN_DRAIN_EXEMPT"):
        make_app(SHUTDOWN_DRAIN_EXEMPT=value)
