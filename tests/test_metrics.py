"""Prometheus metrics, scraped over HTTP from a real server during and
after a shutdown."""

from __future__ import annotations

import concurrent.futures
import re
import time
import typing as t
from pathlib import Path

import requests
from flask import Flask
from flask import request
from prometheus_client import generate_latest

from flask_shutdown import Shutdown

from ._proc import Proc
from ._proc import ROOT
from ._servers import start_draining
from ._servers import tool
from ._servers import wait_ready
from .conftest import TOKEN


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus' text format."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue

        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))

        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])

    return None


def test_metrics_during_and_after_a_shutdown(serve: t.Any) -> None:
    # A name of its own: the registry is shared by the whole test run.
    app = Flask("metrics_app")
    app.config.update(SHUTDOWN_TOKENS=[TOKEN], SHUTDOWN_DRAIN_EXEMPT=["/metrics"])
    shutdown = Shutdown(app)
    app.get("/metrics")(lambda: (generate_latest(), {"Content-Type": "text/plain"}))

    @app.get("/slow")
    def slow() -> str:
        time.sleep(float(request.args["s"]))
        return "slow done"

    shutdown.teardown(lambda: None)
    server = serve(app)
    url = server.url

    # A refused attempt is counted by reason.
    requests.post(
        f"{url}/shutdown", headers={"Authorization": "Bearer wrong-guess"}, timeout=10
    )
    text = requests.get(f"{url}/metrics", timeout=10).text
    mine = {"app": "metrics_app"}
    assert (
        sample(text, "flask_shutdown_refusals_total", **mine, reason="bad_token") == 1
    )
    assert sample(text, "flask_shutdown_phase", **mine, phase="running") == 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        slow = start_draining(pool, app, url, 2)

        # Scraped during the drain: the exempt path still answers.
        text = requests.get(f"{url}/metrics", timeout=10).text
        assert sample(text, "flask_shutdown_phase", **mine, phase="draining") == 1
        assert sample(text, "flask_shutdown_phase", **mine, phase="running") == 0
        in_flight = sample(text, "flask_shutdown_in_flight_requests", **mine)
        assert in_flight is not None and in_flight >= 1
        assert slow.result().text == "slow done"

    assert server.wait_stopped(10)
    assert app.extensions["shutdown"].coordinator.wait(10)
    # After the stop, in the process that ran it.
    text = generate_latest().decode()
    assert (
        sample(text, "flask_shutdown_shutdowns_total", app="metrics_app", outcome="OK")
        == 1
    )
    assert sample(text, "flask_shutdown_phase", app="metrics_app", phase="stopped") == 1
    assert (
        sample(text, "flask_shutdown_drain_duration_seconds_count", app="metrics_app")
        == 1
    )
    assert (
        sample(
            text,
            "flask_shutdown_hook_duration_seconds_count",
            app="metrics_app",
            result="ok",
        )
        == 1
    )


def test_metrics_can_be_turned_off() -> None:
    app = Flask("no_metrics_app")
    app.config.update(SHUTDOWN_TOKENS=[TOKEN], SHUTDOWN_METRICS=False)
    Shutdown(app)
    text = generate_latest().decode()
    assert 'app="no_metrics_app"' not in text


def test_gunicorn_workers_in_multiprocess_mode(tmp_path: Path) -> None:
    """Scraped from any worker, the series add up over all of them."""
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    args = [tool("gunicorn"), "-b", "127.0.0.1:0", "-w", "2", "--no-control-socket"]
    args += ["tests.apps.metrics_app:app"]
    env = {"PROMETHEUS_MULTIPROC_DIR": str(prom_dir)}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
        proc.wait_for_output(r"(?s)(Booting worker with pid: \d+.*){2}")
        wait_ready(proc, f"{url}/shutdown/ready")
        close = {"Connection": "close"}

        # Six refused attempts, spread over the workers by the kernel.
        for i in range(6):
            requests.post(
                f"{url}/shutdown",
                headers={"Authorization": f"Bearer wrong-{i}", **close},
                timeout=10,
            )

        text = requests.get(f"{url}/metrics", headers=close, timeout=10).text
        mine = {"app": "multiprocess_app"}
        refused = sample(
            text, "flask_shutdown_refusals_total", **mine, reason="bad_token"
        )
        locked = sample(
            text, "flask_shutdown_refusals_total", **mine, reason="too_many_attempts"
        )
        assert (refused or 0) + (locked or 0) == 6

        rv = requests.post(
            f"{url}/shutdown",
            headers={"Authorization": f"Bearer {TOKEN}", **close},
            timeout=10,
        )
        assert rv.status_code == 202
        # During the drain delay: the phase, aggregated with "max".
        text = requests.get(f"{url}/metrics", headers=close, timeout=10).text
        assert sample(text, "flask_shutdown_phase", **mine, phase="draining") == 1
        assert proc.wait_exit(60) == 0
