"""The commands through a real ``flask`` executable, as users run them."""

from __future__ import annotations

import collections.abc as cabc
import os
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.security import check_password_hash

from flask_shutdown import ServerThread
from flask_shutdown.cli import CliExit

from ._proc import BIN
from .conftest import AppFactory
from .conftest import SECRET_KEY
from .conftest import TOKEN

Serve = cabc.Callable[[Flask], ServerThread]
FLASK = str(BIN / "flask")


def flask(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WERKZEUG_"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [FLASK, *args],
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_send_without_an_app(
    make_app: AppFactory, serve: Serve, tmp_path: Path
) -> None:
    """No FLASK_APP and nothing to import in the working directory."""
    app, _ = make_app()
    server = serve(app)
    rv = flask(
        "shutdown",
        "send",
        server.url,
        "--reason",
        "subprocess",
        cwd=tmp_path,
        env={"SHUTDOWNCTL_TOKEN": TOKEN},
    )
    assert rv.returncode == CliExit.OK, rv.stdout + rv.stderr
    assert f"{server.url}: stopped" in rv.stdout
    server.join(5)
    assert server.stopped
    assert app.extensions["shutdown"].coordinator.record.reason == "subprocess"
    # The token never shows in the output.
    assert TOKEN not in rv.stdout + rv.stderr


def test_status_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    rv = flask(
        "shutdown",
        "status",
        f"http://127.0.0.1:{port}",
        cwd=tmp_path,
        env={"SHUTDOWNCTL_TOKEN": TOKEN},
    )
    assert rv.returncode == CliExit.UNREACHABLE
    assert "unreachable" in rv.stderr
    assert "Traceback" not in rv.stderr


def test_token_for_the_app(make_app: AppFactory, serve: Serve, tmp_path: Path) -> None:
    (tmp_path / "signed_app.py").write_text(
        textwrap.dedent(
            """
            import os

            from flask import Flask

            from flask_shutdown import Shutdown

            app = Flask(__name__)
            app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
            app.config["SHUTDOWN_SIGNED_TOKENS"] = True
            Shutdown(app)
            """
        )
    )
    rv = flask(
        "shutdown",
        "token",
        "--expires",
        "30",
        cwd=tmp_path,
        env={"FLASK_APP": "signed_app", "SECRET_KEY": SECRET_KEY},
    )
    assert rv.returncode == 0, rv.stderr
    token = rv.stdout.strip()

    # Another process with the same SECRET_KEY accepts it.
    app, _ = make_app(SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True)
    server = serve(app)
    rv = flask(
        "shutdown",
        "send",
        server.url,
        cwd=tmp_path,
        env={"SHUTDOWNCTL_TOKEN": token},
    )
    assert rv.returncode == CliExit.OK, rv.stdout + rv.stderr
    server.join(5)
    assert server.stopped


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "Could not locate a Flask application"),
        ({"FLASK_APP": "plain_app"}, "Flask-Shutdown is not registered"),
    ],
)
def test_token_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    (tmp_path / "plain_app.py").write_text(
        "from flask import Flask\napp = Flask(__name__)\n"
    )
    rv = flask("shutdown", "token", cwd=tmp_path, env=env)
    assert rv.returncode != 0
    assert message in rv.stderr
    assert "Traceback" not in rv.stderr


def test_hash_password_from_a_pipe(tmp_path: Path) -> None:
    rv = flask("shutdown", "hash-password", cwd=tmp_path, input="piped secret\n")
    assert rv.returncode == 0, rv.stderr
    assert check_password_hash(rv.stdout.strip(), "piped secret")


def test_help_of_each_command(tmp_path: Path) -> None:
    for command in ("token", "hash-password", "send", "status"):
        rv = flask("shutdown", command, "--help", cwd=tmp_path)
        assert rv.returncode == 0, rv.stderr
        assert f"Usage: flask shutdown {command}" in rv.stdout
