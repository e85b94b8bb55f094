"""Every failure of the commands is one or two readable lines: an answer
that is not from Flask-Shutdown is summarised (never printed as HTML),
control characters from a server are removed, credentials are never
echoed nor sent over plain HTTP to another machine, and the old
``FLASK_SHUTDOWN_*`` variables are refused with their new names.
"""

from __future__ import annotations

import collections.abc as cabc
import json
import os
import re
import sys
import typing as t

import click
import pytest
from click.testing import CliRunner
from click.testing import Result
from flask import Flask

from flask_shutdown import ServerThread
from flask_shutdown.cli import CliExit
from flask_shutdown.cli import shutdown_command

from ._proc import Proc
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


def run(*args: str, **kwargs: t.Any) -> Result:
    return CliRunner().invoke(shutdown_command, list(args), **kwargs)


def short(result: Result) -> list[str]:
    """The output lines; a failure is at most two of them, with no HTML,
    no traceback and no escape sequence.
    """
    lines = result.output.splitlines()
    assert 1 <= len(lines) <= 2, result.output
    assert "Traceback" not in result.output
    assert "<" not in result.output, result.output
    assert "\x1b" not in result.output and "\r" not in result.output
    return lines


def html_app(status: int, page: str = "<!doctype html><p>try again</p>") -> Flask:
    app = Flask("html")

    @app.route("/shutdown", methods=["GET", "POST"])
    @app.route("/shutdown/status")
    def answer() -> t.Any:
        return page * 40, status, {"Content-Type": "text/html"}

    return app


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        (404, "nothing at this path. Check the path (SHUTDOWN_PATH"),
        (405, "Probably no Flask-Shutdown endpoint at this URL"),
        (500, "the app failed; its log says why"),
        (502, "probably a proxy or load balancer that could not reach the app"),
        (418, "probably another server or app at this URL"),
    ],
)
def test_html_answer_is_summarised(serve: Serve, status: int, meaning: str) -> None:
    server = serve(html_app(status))

    for command in ("send", "status"):
        result = run(command, server.url, "--token", TOKEN)
        assert result.exit_code == CliExit.FAILED, result.output
        (line,) = short(result)
        assert f"HTTP {status} (text/html), not an answer from Flask-Shutdown" in line
        assert meaning in line
        assert "try again" not in line


def test_501_from_a_server_without_the_extension(tmp_path: t.Any) -> None:
    """Python's own http.server answers POST with a 501 HTML page."""
    args = [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"]

    with Proc(args, tmp_path / "server.log", cwd=tmp_path) as proc:
        port = proc.wait_for_output(r"port (\d+)").group(1)
        result = run("send", f"http://127.0.0.1:{port}", "--token", TOKEN)

    assert result.exit_code == CliExit.FAILED
    (line,) = short(result)
    assert "HTTP 501 (text/html), not an answer from Flask-Shutdown" in line
    assert "Probably no Flask-Shutdown endpoint at this URL" in line


def test_refusal_message_is_quoted_without_control_characters(serve: Serve) -> None:
    app = Flask("hostile")

    @app.post("/shutdown")
    def refuse() -> t.Any:
        message = "no\x1b[2J\x1b]0;owned\x07 way\rback" + "x" * 1000
        return {"error": "unauthorized", "message": message}, 401

    server = serve(app)
    result = run("send", server.url, "--token", TOKEN)
    assert result.exit_code == CliExit.REFUSED
    (line,) = short(result)
    assert line.startswith(
        f"{server.url}: refused: HTTP 401: no?[2J?]0;owned? way?back"
    )
    # Cut, not a page of x.
    assert len(line) < 400


def test_status_report_is_printed_without_control_characters(serve: Serve) -> None:
    app = Flask("hostile")

    @app.get("/shutdown/status")
    def status() -> t.Any:
        return {"phase": "running\x1b[31m", "reason": "a\nb", "hooks": []}

    server = serve(app)
    result = run("status", server.url, "--token", TOKEN)
    assert result.exit_code == CliExit.OK
    assert "\x1b" not in result.output
    assert result.output.splitlines()[0] == "phase: running?[31m"
    assert "reason: a?b" in result.output.splitlines()


def test_redirect_is_summarised(serve: Serve) -> None:
    app = Flask("redirect")

    @app.post("/shutdown")
    def away() -> t.Any:
        return "", 308, {"Location": "https://user:secret@elsewhere.example/x"}

    server = serve(app)
    result = run("send", server.url, "--token", TOKEN)
    assert result.exit_code == CliExit.FAILED
    (line,) = short(result)
    assert "HTTP 308: a redirect to https://user:***@elsewhere.example/x" in line
    assert "secret" not in line


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record the requests the command would make, and make none."""
    from flask_shutdown import cli
    from flask_shutdown.client import Response

    calls: list[tuple[str, str]] = []

    def fake(method: str, url: str, *args: t.Any, **kwargs: t.Any) -> Response:
        calls.append((method, url))
        return Response(401, {"error": "unauthorized", "message": "nope"}, "")

    monkeypatch.setattr(cli, "request", fake)
    return calls


@pytest.mark.parametrize("command", ["send", "status"])
@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5/admin/stop", "http://shop.example:8000", "http://[fd00::1]"],
)
def test_plain_http_to_another_machine_is_refused(
    no_network: list[tuple[str, str]], command: str, url: str
) -> None:
    result = run(command, url, "--user", USER, env={"SHUTDOWNCTL_PASSWORD": PASSWORD})
    assert result.exit_code == 2
    (line,) = short(result)
    assert "Not sending credentials over plain HTTP to" in line
    assert "--allow-http" in line
    assert no_network == []

    # With the flag, and over https, the request is made.
    result = run(command, url, "--token", TOKEN, "--allow-http")
    assert result.exit_code == CliExit.REFUSED, result.output
    https = "https" + url.removeprefix("http")
    assert run(command, https, "--token", TOKEN).exit_code == CliExit.REFUSED
    assert [m for m, _ in no_network] == [("POST" if command == "send" else "GET")] * 2


@pytest.mark.parametrize(
    "url", ["http://localhost:5000", "http://127.0.0.2:5000", "http://[::1]:5000"]
)
def test_plain_http_to_this_machine_is_allowed(
    no_network: list[tuple[str, str]], url: str
) -> None:
    assert run("send", url, "--token", TOKEN).exit_code == CliExit.REFUSED
    assert len(no_network) == 1


@pytest.mark.parametrize("command", ["send", "status"])
def test_credentials_in_the_url_are_refused_and_not_echoed(
    no_network: list[tuple[str, str]], command: str
) -> None:
    result = run(command, "http://ops:hunter2-secret@127.0.0.1:5000/", "--token", TOKEN)
    assert result.exit_code == 2
    (line,) = short(result)
    assert "hunter2" not in result.output
    assert "http://ops:***@127.0.0.1:5000/" in line
    assert "has credentials in it" in line
    assert no_network == []


@pytest.mark.parametrize(
    "url", ["127.0.0.1:5000", "ftp://127.0.0.1/", "http://", "http://h:x/"]
)
def test_bad_url_is_one_line(no_network: list[tuple[str, str]], url: str) -> None:
    result = run("send", url, "--token", TOKEN)
    assert result.exit_code == 2
    short(result)
    assert no_network == []


@pytest.mark.parametrize("name", ["TOKEN", "USER", "PASSWORD"])
def test_old_environment_variables_are_refused(
    no_network: list[tuple[str, str]], name: str
) -> None:
    env = {f"FLASK_SHUTDOWN_{name}": "value-that-must-not-show"}

    for command in ("send", "status"):
        result = run(command, "http://127.0.0.1:5000", "--token", TOKEN, env=env)
        assert result.exit_code == 2
        (line,) = short(result)
        assert f"Rename FLASK_SHUTDOWN_{name} -> SHUTDOWNCTL_{name}" in line
        assert "from_prefixed_env" in line
        assert "value-that-must-not-show" not in result.output

    assert no_network == []


def test_missing_credentials_is_one_line() -> None:
    result = run("send", "http://127.0.0.1:5000")
    assert result.exit_code == 2
    (line,) = short(result)
    assert "SHUTDOWNCTL_TOKEN" in line


def test_cli_variables_stay_out_of_the_app_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Flask's documented from_prefixed_env() reads FLASK_*, which the
    CLI's variables no longer start with.
    """
    monkeypatch.setenv("SHUTDOWNCTL_PASSWORD", PASSWORD)
    monkeypatch.setenv("SHUTDOWNCTL_TOKEN", TOKEN)
    app = Flask(__name__)
    app.config.from_prefixed_env()
    assert not any("PASSWORD" in key or "CTL" in key for key in app.config)
    assert PASSWORD not in json.dumps({k: str(v) for k, v in app.config.items()})


def test_send_json_for_a_refusal(make_app: AppFactory, serve: Serve) -> None:
    server = serve(make_app()[0])
    result = run("send", server.url, "--token", "wrong-token-0123456789", "--json")
    assert result.exit_code == CliExit.REFUSED
    (doc,) = [json.loads(line) for line in result.output.splitlines()]
    assert doc["result"] == "refused"
    assert doc["exit"] == CliExit.REFUSED
    assert doc["message"].startswith("HTTP 401: ")
    assert doc["shutdown_id"] is None


def test_send_json_one_document_per_server(make_app: AppFactory, serve: Serve) -> None:
    servers = [serve(make_app()[0]) for _ in range(2)]
    result = run("send", *(s.url for s in servers), "--token", TOKEN, "--json")
    assert result.exit_code == CliExit.OK, result.output
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert [d["url"] for d in docs] == [s.url for s in servers]
    assert all(d["result"] == "stopped" and d["exit_code"] == 0 for d in docs)
    assert all(re.fullmatch(r"[0-9a-f]{32}", d["shutdown_id"]) for d in docs)
    assert all(d["report"]["pid"] == os.getpid() for d in docs)


#: Click suggests a near command name since it has NoSuchCommand; Click
#: 8.1 (Flask 2.x and the lowest versions allowed) does not.
SUGGESTION = (
    " Did you mean 'send'?" if hasattr(click.exceptions, "NoSuchCommand") else ""
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send"], "Error: Missing argument 'URL...'. See 'shutdown send --help'."),
        (
            ["send", "http://127.0.0.1:5000", "--timeout", "soon"],
            "'soon' is not a valid float range. See 'shutdown send --help'.",
        ),
        (["sned"], "No such command 'sned'." + SUGGESTION),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    (line,) = short(result)
    assert message in line
