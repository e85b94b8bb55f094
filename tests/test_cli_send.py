"""``flask shutdown send`` against real servers (ServerThread), through
click's test runner.
"""

from __future__ import annotations

import collections.abc as cabc
import re
import socket
import threading
import typing as t

import pytest
import requests
from click.testing import CliRunner
from click.testing import Result
from flask import Flask

from flask_shutdown import ServerThread
from flask_shutdown.cli import CliExit
from flask_shutdown.cli import shutdown_command

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import SECRET_KEY
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


def send(*args: str, **kwargs: t.Any) -> Result:
    return CliRunner().invoke(shutdown_command, ["send", *args], **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_send_token_stops_and_runs_hooks(make_app: AppFactory, serve: Serve) -> None:
    app, shutdown = make_app()
    ran = []
    shutdown.teardown(lambda: ran.append("hook"))
    server = serve(app)
    result = send(server.url, "--token", TOKEN, "--reason", "deploy 42")
    assert result.exit_code == CliExit.OK, result.output
    server.join(5)
    assert server.stopped
    assert ran == ["hook"]
    assert "accepted" in result.output
    assert f"{server.url}: stopped" in result.output
    record = app.extensions["shutdown"].coordinator.record
    assert record.reason == "deploy 42"
    assert record.requested_by == "token:0"


def test_send_waits_for_requests_in_flight(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app()
    server = serve(app)
    answers: list[str] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            requests.get(server.url + "/slow?s=0.5", timeout=10).text
        )
    )
    thread.start()

    # The request is in flight once the server counts it.
    state = app.extensions["shutdown"]
    for _ in range(500):
        if len(state.in_flight):
            break
        threading.Event().wait(0.01)

    result = send(server.url, "--token", TOKEN, "--interval", "0.05")
    thread.join(10)
    assert result.exit_code == CliExit.OK, result.output
    assert answers == ["slow done"]
    # Plain lines, not a terminal: the draining phase showed the request.
    assert re.search(r"^http://\S+: draining, [1-9] in flight", result.output, re.M)


def test_send_token_from_environment(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app()
    server = serve(app)
    result = send(server.url, env={"SHUTDOWNCTL_TOKEN": TOKEN})
    assert result.exit_code == CliExit.OK, result.output
    server.join(5)
    assert server.stopped


def test_send_user_password_from_environment(
    make_app: AppFactory, serve: Serve
) -> None:
    app, _ = make_app()
    server = serve(app)
    env = {"SHUTDOWNCTL_USER": USER, "SHUTDOWNCTL_PASSWORD": PASSWORD}
    result = send(server.url, env=env)
    assert result.exit_code == CliExit.OK, result.output
    record = app.extensions["shutdown"].coordinator.record
    assert record.requested_by == f"user:{USER}"


def test_send_user_prompts_for_password(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app()
    server = serve(app)
    result = send(server.url, "--user", USER, input=PASSWORD + "\n")
    assert result.exit_code == CliExit.OK, result.output
    assert f"Password for {USER}" in result.output
    assert PASSWORD not in result.output
    server.join(5)
    assert server.stopped


def test_send_full_endpoint_url(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app(SHUTDOWN_PATH="/admin/stop")
    server = serve(app)
    result = send(server.url + "/admin/stop", "--token", TOKEN)
    assert result.exit_code == CliExit.OK, result.output
    server.join(5)
    assert server.stopped


def test_send_wrong_token_is_refused(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app()
    server = serve(app)
    result = send(server.url, "--token", "wrong-token-0123456789")
    assert result.exit_code == CliExit.REFUSED == 3
    assert "refused: HTTP 401" in result.output
    assert "Traceback" not in result.output
    assert not server.stopped


def test_send_forbidden_role_is_refused(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app(SHUTDOWN_ROLES={f"user:{USER}": ["status"]})
    server = serve(app)
    env = {"SHUTDOWNCTL_PASSWORD": PASSWORD}
    result = send(server.url, "--user", USER, env=env)
    assert result.exit_code == CliExit.REFUSED
    assert "HTTP 403" in result.output
    assert not server.stopped


def test_send_wrong_path_fails(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app()
    server = serve(app)
    result = send(server.url + "/nothing-here", "--token", TOKEN)
    assert result.exit_code == CliExit.FAILED == 1
    assert "failed: HTTP 404" in result.output
    assert not server.stopped


def test_send_unreachable() -> None:
    result = send(f"http://127.0.0.1:{closed_port()}", "--token", TOKEN)
    assert result.exit_code == CliExit.UNREACHABLE == 4
    assert "unreachable" in result.output


def test_send_timed_out(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app(SHUTDOWN_DRAIN_TIMEOUT=20)
    server = serve(app)
    slow = threading.Thread(
        target=lambda: requests.get(server.url + "/slow?s=2", timeout=10)
    )
    slow.start()
    state = app.extensions["shutdown"]
    for _ in range(500):
        if len(state.in_flight):
            break
        threading.Event().wait(0.01)

    result = send(server.url, "--token", TOKEN, "--timeout", "0.3")
    assert result.exit_code == CliExit.TIMED_OUT == 5
    assert "timed out" in result.output
    assert "last phase: draining" in result.output
    slow.join(10)
    assert state.coordinator.wait(10)


def test_send_waits_for_the_port_after_stopped(
    make_app: AppFactory, serve: Serve
) -> None:
    """For a process-level server, "stopped" means "told to stop": the
    command waits until the port is closed.
    """
    app, _ = make_app(SHUTDOWN_STRATEGY=lambda record: None)
    server = serve(app)
    result = send(server.url, "--token", TOKEN, "--timeout", "0.5")
    assert result.exit_code == CliExit.TIMED_OUT
    assert "last phase: stopped" in result.output
    assert not server.stopped


def test_send_reports_hooks_when_the_stopped_report_was_read(
    make_app: AppFactory, serve: Serve
) -> None:
    servers: list[ServerThread] = []

    def stop_later(record: object) -> None:
        # Like a process-level server: told to stop, it goes a bit later.
        threading.Timer(0.3, servers[0].stop_serving).start()

    app, shutdown = make_app(SHUTDOWN_STRATEGY=stop_later)
    shutdown.teardown(lambda: None)

    @shutdown.teardown
    def broken() -> None:
        raise OSError("disk full")

    servers.append(serve(app))
    url = servers[0].url
    result = send(url, "--token", TOKEN, "--interval", "0.05")
    # The server stopped, but not cleanly: the exit code says so.
    assert result.exit_code == CliExit.UNCLEAN == 6, result.output
    lines = result.output.splitlines()
    assert f"{url}: drained: every request finished" in lines
    assert re.search(
        rf"^{url}: hook \S*<lambda>: ok \([\d.]+ ms\)$", result.output, re.M
    )
    assert re.search(
        rf"^{url}: hook \S*broken: error \([\d.]+ ms\): OSError: disk full$",
        result.output,
        re.M,
    )
    # A callable strategy: the process exit code is not the shutdown's.
    assert lines[-1] == (
        f"{url}: stopped, exit code 1 (HOOK_FAILED); callable does not pass it"
        " on as its process exit code"
    )

    # --ignore-failures: the same outcome is printed, and the exit code is 0.
    app, shutdown = make_app(SHUTDOWN_STRATEGY=stop_later)
    shutdown.teardown(broken)
    servers[0] = serve(app)
    result = send(servers[0].url, "--token", TOKEN, "--ignore-failures")
    assert result.exit_code == CliExit.OK, result.output
    assert "exit code 1 (HOOK_FAILED)" in result.output


def test_port_open_for_unresolvable_host() -> None:
    """Not a refusal: the host may come back, keep waiting."""
    from flask_shutdown.client import port_open as _port_open

    assert _port_open("http://host.invalid:5000", 0.5)


def test_send_no_wait(make_app: AppFactory, serve: Serve) -> None:
    app, _ = make_app(SHUTDOWN_DRAIN_DELAY=0.5)
    server = serve(app)
    result = send(server.url, "--token", TOKEN, "--no-wait")
    assert result.exit_code == CliExit.OK, result.output
    assert "accepted (draining)" in result.output
    assert "stopped" not in result.output
    server.join(10)


def test_send_status_refused_watches_the_port(
    make_app: AppFactory, serve: Serve
) -> None:
    """A token that may shut down but not read the status: the port
    tells when the server is gone.
    """
    # The drain delay keeps the server up for the first status poll, which
    # this token may not make.
    app, shutdown = make_app(
        SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True, SHUTDOWN_DRAIN_DELAY=1.0
    )
    with app.app_context():
        token = shutdown.create_token(60, scope=["shutdown"])

    server = serve(app)
    result = send(server.url, "--token", token)
    assert result.exit_code == CliExit.OK, result.output
    assert "waiting for the port to close" in result.output
    server.join(5)
    assert server.stopped


def test_send_rolling(make_app: AppFactory, serve: Serve) -> None:
    servers = [serve(make_app()[0]) for _ in range(3)]
    result = send(*(s.url for s in servers), "--token", TOKEN)
    assert result.exit_code == CliExit.OK, result.output
    for server in servers:
        server.join(5)
        assert server.stopped
    # The final line of each server, in order.
    stopped = re.findall(r"^(\S+): stopped, exit code 0 \(OK\)$", result.output, re.M)
    assert stopped == [s.url for s in servers]


def test_send_rolling_stops_at_first_failure(
    make_app: AppFactory, serve: Serve
) -> None:
    first = serve(make_app()[0])
    refusing = serve(make_app(SHUTDOWN_TOKENS=["another-token-0123456789"])[0])
    last = serve(make_app()[0])
    result = send(first.url, refusing.url, last.url, "--token", TOKEN)
    assert result.exit_code == CliExit.REFUSED
    first.join(5)
    assert first.stopped
    assert not refusing.stopped
    assert not last.stopped
    assert f"{last.url}: skipped" in result.output


def test_send_parallel(make_app: AppFactory, serve: Serve) -> None:
    servers = [serve(make_app()[0]) for _ in range(3)]
    down = f"http://127.0.0.1:{closed_port()}"
    result = send(*(s.url for s in servers), down, "--token", TOKEN, "--parallel")
    # Every reachable server stopped; the highest code is reported.
    assert result.exit_code == CliExit.UNREACHABLE
    for server in servers:
        server.join(5)
        assert server.stopped
    assert "skipped" not in result.output


def test_send_terminal_progress(
    make_app: AppFactory, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_shutdown import cli

    monkeypatch.setattr(cli, "_stdout_is_tty", lambda: True)
    app, _ = make_app(SHUTDOWN_DRAIN_DELAY=0.3)
    server = serve(app)
    result = send(server.url, "--token", TOKEN, "--interval", "0.05", color=True)
    assert result.exit_code == CliExit.OK, result.output
    # The progress line is rewritten in place, then cleared.
    assert "\r\x1b[K" in result.output
    assert "draining, " in result.output
    assert result.output.endswith(f"\r\x1b[K{server.url}: stopped, exit code 0 (OK)\n")


def test_send_needs_credentials() -> None:
    result = send("http://127.0.0.1:5000")
    assert result.exit_code == 2
    assert "SHUTDOWNCTL_TOKEN" in result.output


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--token", TOKEN, "--user", USER], {}),
        ([], {"SHUTDOWNCTL_TOKEN": TOKEN, "SHUTDOWNCTL_USER": USER}),
    ],
)
def test_send_token_and_user_conflict(args: list[str], env: dict[str, str]) -> None:
    result = send("http://127.0.0.1:5000", *args, env=env)
    assert result.exit_code == 2
    assert "either a token or a user" in result.output


@pytest.mark.parametrize("option", ["--user", "--token"])
def test_send_option_wins_over_environment(
    make_app: AppFactory, serve: Serve, option: str
) -> None:
    app, _ = make_app()
    server = serve(app)
    # The other credential is exported, and wrong: the option is used.
    if option == "--user":
        args = ["--user", USER]
        env = {"SHUTDOWNCTL_TOKEN": "exported-but-wrong-0123456789"}
    else:
        args = ["--token", TOKEN]
        env = {"SHUTDOWNCTL_USER": "nobody"}

    env["SHUTDOWNCTL_PASSWORD"] = PASSWORD
    result = send(server.url, *args, env=env)
    assert result.exit_code == CliExit.OK, result.output
    record = app.extensions["shutdown"].coordinator.record
    assert record.requested_by == ("user:ops" if option == "--user" else "token:0")


@pytest.mark.parametrize("url", ["127.0.0.1:5000", "ftp://127.0.0.1/", "http://"])
def test_send_bad_url(url: str) -> None:
    result = send(url, "--token", TOKEN)
    assert result.exit_code == 2
    assert "URL" in result.output


def test_send_does_not_follow_redirects(serve: Serve) -> None:
    app = Flask("redirecting")
    hits = []

    @app.route("/shutdown", methods=["POST"])
    def redirect_away() -> t.Any:
        from flask import redirect

        return redirect("/elsewhere", 307)

    @app.route("/elsewhere", methods=["GET", "POST"])
    def elsewhere() -> str:
        hits.append(1)
        return "no"

    server = serve(app)
    result = send(server.url, "--token", TOKEN)
    assert result.exit_code == CliExit.FAILED
    assert "failed: HTTP 307" in result.output
    assert hits == []


def test_send_through_flask_without_app(make_app: AppFactory, serve: Serve) -> None:
    """``flask shutdown send`` needs no app: no FLASK_APP, nothing to import."""
    from flask.cli import cli

    server = serve(make_app()[0])
    result = CliRunner().invoke(
        cli, ["shutdown", "send", server.url], env={"SHUTDOWNCTL_TOKEN": TOKEN}
    )
    assert result.exit_code == CliExit.OK, result.output
    server.join(5)
    assert server.stopped


def test_send_response_cut_short_by_an_exiting_server() -> None:
    """A server process that exits while answering a status request cuts
    the response; that is a server going away, not an error.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted = b'{"status": "accepted", "shutdown_id": "x", "phase": "draining"}'

    def serve_twice() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 202 ACCEPTED\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(accepted)}\r\n\r\n".encode()
                    + accepted
                )
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n{")

    thread = threading.Thread(target=serve_twice)
    thread.start()
    result = send(f"http://127.0.0.1:{port}", "--token", TOKEN, "--interval", "0.05")
    thread.join(10)
    assert result.exit_code == CliExit.OK, result.output
    assert "Traceback" not in result.output
    # Gone before any report of its hooks was read: said so, not guessed.
    assert f"http://127.0.0.1:{port}: stopped; outcome unknown" in result.output
