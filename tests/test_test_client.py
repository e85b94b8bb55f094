"""Werkzeug's test client is a first-class way to test a shutdown: the
real sequence runs in process, and nothing is signalled or killed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import typing as t

import pytest

from .conftest import AppFactory
from .conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_post_runs_the_sequence_in_process(make_app: AppFactory) -> None:
    app, shutdown = make_app()
    ran: list[str] = []
    shutdown.teardown(lambda: ran.append("close db"))
    client = app.test_client()

    rv = client.post("/shutdown", headers=AUTH, json={"reason": "unit test"})

    assert rv.status_code == 202
    body = rv.get_json()
    # The sequence ran inside the request: the answer says what it did.
    assert body["phase"] == "stopped"
    assert body["exit_code"] == 0
    assert [h["name"] for h in body["hooks"]] == [
        "test_post_runs_the_sequence_in_process.<locals>.<lambda>"
    ]
    assert body["hooks"][0]["status"] == "ok"
    assert ran == ["close db"]

    status = client.get("/shutdown/status", headers=AUTH).get_json()
    assert status["phase"] == "stopped"
    assert status["server"] == "test-client"
    assert status["reason"] == "unit test"
    assert status["exit_code"] == 0
    # Stopped is the truth: new requests are refused until reset().
    assert client.get("/").status_code == 503

    with app.app_context():
        shutdown.reset()

    assert client.get("/").status_code == 200
    assert client.get("/shutdown/ready").status_code == 200


def test_failing_hook_shows_in_the_answer(make_app: AppFactory) -> None:
    app, shutdown = make_app()

    @shutdown.teardown
    def flush_cache() -> None:
        raise ConnectionError("cache is gone")

    rv = app.test_client().post("/shutdown", headers=AUTH)
    body = rv.get_json()
    assert body["exit_code"] == 1
    assert body["hooks"][0]["status"] == "error"
    assert "ConnectionError: cache is gone" in body["hooks"][0]["error"]


@pytest.mark.parametrize("strategy", ["auto", "signal", "signal:SIGINT", "gunicorn"])
def test_named_strategies_never_signal_under_the_test_client(
    make_app: AppFactory, strategy: str
) -> None:
    # A signal here would end the test run itself.
    app, _ = make_app(SHUTDOWN_STRATEGY=strategy)
    rv = app.test_client().post("/shutdown", headers=AUTH)
    assert rv.status_code == 202
    assert rv.get_json()["phase"] == "stopped"


def test_callable_strategy_is_called(make_app: AppFactory) -> None:
    calls: list[t.Any] = []
    app, _ = make_app(SHUTDOWN_STRATEGY=calls.append)
    rv = app.test_client().post("/shutdown", headers=AUTH)
    assert rv.status_code == 202
    assert [record.id for record in calls] == [rv.get_json()["shutdown_id"]]


def test_drain_delay_does_not_apply(make_app: AppFactory) -> None:
    # No load balancer watches a test client's readiness; a delay would
    # only slow the test down. Were it applied, the POST would take 30 s
    # and run into pytest-timeout's limit well before that.
    app, _ = make_app(SHUTDOWN_DRAIN_DELAY=30)
    rv = app.test_client().post("/shutdown", headers=AUTH)
    assert rv.get_json()["phase"] == "stopped"


def test_process_is_still_alive_afterwards(tmp_path: t.Any) -> None:
    script = tmp_path / "unit.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from flask import Flask
            from flask_shutdown import Shutdown

            app = Flask(__name__)
            app.config.update(TESTING=True, SHUTDOWN_TOKENS=[{TOKEN!r}])
            shutdown = Shutdown(app)
            shutdown.teardown(lambda: print("hook ran", flush=True))
            rv = app.test_client().post(
                "/shutdown", headers={{"Authorization": "Bearer {TOKEN}"}}
            )
            print(rv.status_code, rv.get_json()["exit_code"], flush=True)
            print("still alive", flush=True)
            """
        )
    )
    rv = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.splitlines() == ["hook ran", "202 0", "still alive"]


def test_unread_test_client_responses_do_not_hold_a_drain(
    make_app: AppFactory, serve: t.Any
) -> None:
    # The default SHUTDOWN_DRAIN_TIMEOUT is 30 s: were the unread responses
    # counted, the drain would time out and say so in the record.
    app, _ = make_app()
    server = serve(app)
    client = app.test_client()
    responses = [client.get("/", buffered=False) for _ in range(3)]
    record = server.shutdown("test")
    assert record is not None
    assert record.drain_timed_out is False
    assert record.exit_code == 0
    assert len(responses) == 3
