"""``flask shutdown status`` against a real server."""

from __future__ import annotations

import collections.abc as cabc
import json
import re
import socket

import pytest
from click.testing import CliRunner
from click.testing import Result
from flask import Flask

from flask_shutdown import ServerThread
from flask_shutdown.cli import CliExit
from flask_shutdown.cli import shutdown_command

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

Serve = cabc.Callable[[Flask], ServerThread]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKEN", "USER", "PASSWORD"):
        monkeypatch.delenv(f"SHUTDOWNCTL_{name}", raising=False)
        monkeypatch.delenv(f"FLASK_SHUTDOWN_{name}", raising=False)

    # FlaskGroup sets this in os.environ, where it would turn app.run()
    # into a no-op in every server process started by later tests. Set
    # it here so that monkeypatch removes it again.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")


def status(*args: str, **kwargs: object) -> Result:
    return CliRunner().invoke(shutdown_command, ["status", *args], **kwargs)  # type: ignore[arg-type]


def test_status_running(make_app: AppFactory, serve: Serve) -> None:
    server = serve(make_app()[0])
    result = status(server.url, "--token", TOKEN)
    assert result.exit_code == CliExit.OK, result.output
    lines = result.output.splitlines()
    assert "phase: running" in lines
    assert "ready: True" in lines
    assert "shutdown_id: -" in lines
    assert "hooks: 0" in lines


@pytest.mark.parametrize("suffix", ["", "/shutdown", "/shutdown/status"])
def test_status_json(make_app: AppFactory, serve: Serve, suffix: str) -> None:
    server = serve(make_app()[0])
    env = {"SHUTDOWNCTL_USER": USER, "SHUTDOWNCTL_PASSWORD": PASSWORD}
    result = status(server.url + suffix, "--json", env=env)
    assert result.exit_code == CliExit.OK, result.output
    report = json.loads(result.output)
    assert report["phase"] == "running"
    assert report["exit_code"] is None


def test_status_after_shutdown_shows_hooks(make_app: AppFactory, serve: Serve) -> None:
    # A strategy that leaves the server up, so the finished record can be
    # read over HTTP.
    app, shutdown = make_app(SHUTDOWN_STRATEGY=lambda record: None)

    @shutdown.teardown
    def broken() -> None:
        raise ValueError("disk full")

    @shutdown.teardown
    def fine() -> None:
        pass

    server = serve(app)
    sent = CliRunner().invoke(
        shutdown_command,
        ["send", server.url, "--token", TOKEN, "--reason", "maintenance", "--no-wait"],
    )
    assert sent.exit_code == CliExit.OK, sent.output
    assert app.extensions["shutdown"].coordinator.wait(10)

    result = status(server.url, "--token", TOKEN)
    assert result.exit_code == CliExit.OK, result.output
    lines = result.output.splitlines()
    assert "phase: stopped" in lines
    assert "reason: maintenance" in lines
    assert "requested_by: token:0" in lines
    assert "hooks: 2" in lines
    hook_lines = [line for line in lines if line.startswith("  ")]
    assert len(hook_lines) == 2
    assert re.fullmatch(
        r"  \S*broken: error \([\d.]+ ms\): ValueError: disk full", hook_lines[0]
    )
    assert re.fullmatch(r"  \S*fine: ok \([\d.]+ ms\)", hook_lines[1])
    assert "still_running: -" in lines
    assert "exit_code: 1" in lines


def test_status_refused(make_app: AppFactory, serve: Serve) -> None:
    server = serve(make_app()[0])
    result = status(server.url, "--token", "not-the-token-0123456789")
    assert result.exit_code == CliExit.REFUSED
    assert "HTTP 401" in result.output
    assert "not-the-token" not in result.output


def test_status_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = status(f"http://127.0.0.1:{port}", "--token", TOKEN)
    assert result.exit_code == CliExit.UNREACHABLE
    assert "unreachable" in result.output


def test_status_not_json(serve: Serve) -> None:
    app = Flask("other")
    app.add_url_rule("/shutdown/status", "s", lambda: "plain text")
    server = serve(app)
    result = status(server.url, "--token", TOKEN)
    assert result.exit_code == CliExit.FAILED
    # Summarised, not echoed: it could be a whole HTML page.
    assert "plain text" not in result.output
    assert "HTTP 200 (text/html), not an answer from Flask-Shutdown" in result.output
