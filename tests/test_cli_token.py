"""``flask shutdown token`` and ``flask shutdown hash-password``."""

from __future__ import annotations

import collections.abc as cabc
import time

import pytest
import requests
from flask import Flask
from werkzeug.security import check_password_hash

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown
from flask_shutdown.cli import shutdown_command

from .conftest import AppFactory
from .conftest import SECRET_KEY


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKEN", "USER", "PASSWORD"):
        monkeypatch.delenv(f"SHUTDOWNCTL_{name}", raising=False)
        monkeypatch.delenv(f"FLASK_SHUTDOWN_{name}", raising=False)

    # FlaskGroup sets this in os.environ, where it would turn app.run()
    # into a no-op in every server process started by later tests. Set
    # it here so that monkeypatch removes it again.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")


def test_token_stops_the_server(
    make_app: AppFactory, serve: cabc.Callable[[Flask], ServerThread]
) -> None:
    app, _ = make_app(SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True)
    result = app.test_cli_runner().invoke(
        shutdown_command, ["token", "--expires", "60"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert "\n" not in token

    server = serve(app)
    headers = {"Authorization": f"Bearer {token}"}
    rv = requests.post(server.url + "/shutdown", headers=headers, timeout=5)
    assert rv.status_code == 202
    assert rv.json()["requested_by"].startswith("signed:")
    server.join(10)
    server.join(5)
    assert server.stopped


def test_token_scope(
    make_app: AppFactory, serve: cabc.Callable[[Flask], ServerThread]
) -> None:
    app, _ = make_app(SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True)
    result = app.test_cli_runner().invoke(
        shutdown_command, ["token", "--scope", "status"]
    )
    assert result.exit_code == 0, result.output
    headers = {"Authorization": f"Bearer {result.output.strip()}"}
    server = serve(app)
    assert requests.get(server.url + "/shutdown/status", headers=headers, timeout=5).ok
    rv = requests.post(server.url + "/shutdown", headers=headers, timeout=5)
    assert rv.status_code == 403


def test_token_expires_defaults_to_config(make_app: AppFactory) -> None:
    app, shutdown = make_app(
        SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True, SHUTDOWN_TOKEN_MAX_AGE=42
    )
    result = app.test_cli_runner().invoke(shutdown_command, ["token"])
    assert result.exit_code == 0, result.output
    signed = app.extensions["shutdown"].signer.verify(result.output.strip())
    assert round(signed.expires_at - time.time()) in (41, 42)
    assert signed.scope == {"shutdown", "status"}


def test_token_signed_tokens_off(make_app: AppFactory) -> None:
    app, _ = make_app()
    result = app.test_cli_runner().invoke(shutdown_command, ["token"])
    assert result.exit_code == 1
    assert "SHUTDOWN_SIGNED_TOKENS" in result.output
    assert "Traceback" not in result.output


def test_token_extension_not_registered() -> None:
    app = Flask("plain")
    result = app.test_cli_runner().invoke(shutdown_command, ["token"])
    assert result.exit_code == 1
    assert "Flask-Shutdown is not registered" in result.output
    assert "init_app" in result.output


def test_token_bad_options(make_app: AppFactory) -> None:
    app, _ = make_app(SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True)
    runner = app.test_cli_runner()
    assert runner.invoke(shutdown_command, ["token", "--expires", "0"]).exit_code == 2
    assert runner.invoke(shutdown_command, ["token", "--scope", "all"]).exit_code == 2


def test_token_through_flask_group(make_app: AppFactory) -> None:
    """The group is found through the ``flask.commands`` entry point."""
    from flask.cli import FlaskGroup
    from flask.cli import ScriptInfo

    app, _ = make_app(SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True)
    cli = FlaskGroup(create_app=lambda: app)
    result = app.test_cli_runner().invoke(
        cli, ["shutdown", "token"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert app.extensions["shutdown"].signer.verify(result.output.strip())


def test_hash_password_from_stdin() -> None:
    app = Flask("plain")
    result = app.test_cli_runner().invoke(
        shutdown_command, ["hash-password"], input="s3cret words\n"
    )
    assert result.exit_code == 0, result.output
    value = result.output.strip()
    assert check_password_hash(value, "s3cret words")
    # The hash is accepted as a SHUTDOWN_USERS value.
    app.config["SHUTDOWN_USERS"] = {"ops": value}
    Shutdown(app)


def test_hash_password_prompts_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from flask_shutdown import cli

    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    result = (
        Flask("plain")
        .test_cli_runner()
        .invoke(
            shutdown_command,
            ["hash-password"],
            input="pw one two three\npw one two three\n",
        )
    )
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    # hide_input: the password is not echoed.
    assert "pw one" not in result.output
    assert check_password_hash(
        result.output.strip().splitlines()[-1], "pw one two three"
    )


def test_hash_password_confirmation_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    from flask_shutdown import cli

    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    # A mismatch asks again. (The pair that matches ends the prompt: at the
    # end of the input, click before 8.2 would ask forever.)
    result = (
        Flask("plain")
        .test_cli_runner()
        .invoke(
            shutdown_command,
            ["hash-password"],
            input="one\ntwo\nlong-enough-pass\nlong-enough-pass\n",
        )
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert check_password_hash(result.output.splitlines()[-1], "long-enough-pass")


def test_hash_password_empty() -> None:
    result = (
        Flask("plain")
        .test_cli_runner()
        .invoke(shutdown_command, ["hash-password"], input="\n")
    )
    assert result.exit_code == 1
    assert "empty" in result.output


def test_hash_password_too_short() -> None:
    result = (
        Flask("plain")
        .test_cli_runner()
        .invoke(shutdown_command, ["hash-password"], input="x\n")
    )
    assert result.exit_code == 1
    assert "shorter than 12 characters" in result.output
    assert "guessing" in result.output
    assert "$" not in result.output
