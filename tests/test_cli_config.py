"""Config that helps: a misspelled key warns with a did-you-mean,
``flask shutdown config`` prints the effective settings and never a
secret, and a configuration error of the app is one line, not a
traceback, through the real ``flask`` executable.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from flask import Flask

from flask_shutdown import Shutdown
from flask_shutdown.cli import shutdown_command

from ._proc import BIN
from .conftest import AppFactory
from .conftest import PASSWORD_HASH
from .conftest import SECRET_KEY
from .conftest import TOKEN


def flask(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WERKZEUG_"))
    }
    full_env.update(env)
    return subprocess.run(
        [str(BIN / "flask"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("SHUTDOWN_TOKEN", "Did you mean 'SHUTDOWN_TOKENS'?"),
        ("SHUTDOWN_DRAIN_TIMOUT", "Did you mean 'SHUTDOWN_DRAIN_TIMEOUT'?"),
        ("SHUTDOWN_PASSWORD", "Did you mean 'SHUTDOWN_PATH'?"),
        ("SHUTDOWN_COLOUR_SCHEME", ""),
    ],
)
def test_unknown_key_warns_with_did_you_mean(
    caplog: pytest.LogCaptureFixture, key: str, hint: str
) -> None:
    app = Flask(__name__)
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]
    app.config[key] = "a-secret-value-not-to-log"

    with caplog.at_level(logging.WARNING, "flask_shutdown.config"):
        Shutdown(app)

    (record,) = [r for r in caplog.records if r.name == "flask_shutdown.config"]
    message = record.getMessage()
    assert f"Unknown config key {key!r}" in message
    assert hint in message
    assert "a-secret-value" not in caplog.text


def test_known_keys_do_not_warn(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "flask_shutdown.config"):
        make_app(SHUTDOWN_DRAIN_TIMEOUT=5, SHUTDOWN_STATUS_PATH="/s", OTHER_KEY=1)

    assert not [r for r in caplog.records if r.name == "flask_shutdown.config"]


def configured_app() -> Flask:
    app = Flask("configured")
    app.config.update(
        SECRET_KEY=SECRET_KEY,
        SHUTDOWN_SIGNED_TOKENS=True,
        SHUTDOWN_TOKENS={"deploy": TOKEN, "ci": TOKEN[::-1]},
        SHUTDOWN_USERS={"ops": PASSWORD_HASH},
        SHUTDOWN_ROLES={"token:ci": ["status"]},
        SHUTDOWN_PATH="/admin/shutdown",
        SHUTDOWN_ALLOWED_NETWORKS=["127.0.0.0/8", "10.0.0.0/8"],
        SHUTDOWN_DRAIN_TIMEOUT=20,
    )
    shutdown = Shutdown(app)

    @shutdown.teardown(timeout=3)
    def close_db() -> None:
        pass

    return app


def test_config_command_shows_settings_never_secrets() -> None:
    app = configured_app()
    result = app.test_cli_runner().invoke(shutdown_command, ["config"])
    assert result.exit_code == 0, result.output
    rows = {
        line.split("  ", 1)[0]: line.split("  ", 1)[1].strip()
        for line in result.output.splitlines()
    }
    assert rows["endpoint"] == "exposed"
    assert rows["path"] == "/admin/shutdown"
    assert rows["status path"] == "/admin/shutdown/status"
    assert rows["ready path"] == "/admin/shutdown/ready"
    assert rows["static tokens"] == "2 (deploy, ci)"
    assert rows["basic users"] == "1 (ops)"
    assert rows["signed tokens"] == "on, valid 300 s"
    assert rows["roles"] == "token:ci: status"
    assert rows["allowed networks"] == "127.0.0.0/8, 10.0.0.0/8"
    assert rows["strategy"] == "auto"
    assert rows["drain timeout"] == "20 s"
    assert rows["hooks"].endswith("close_db (timeout 3 s)")
    assert rows["lockout"] == "5 failed attempts per 60 s"

    for secret in (TOKEN, TOKEN[::-1], PASSWORD_HASH, SECRET_KEY):
        assert secret not in result.output

    as_json = app.test_cli_runner().invoke(shutdown_command, ["config", "--json"])
    settings = json.loads(as_json.output)
    assert settings["static tokens"] == "2 (deploy, ci)"
    assert SECRET_KEY not in as_json.output and TOKEN not in as_json.output


def test_config_command_without_credentials() -> None:
    app = Flask("bare")
    Shutdown(app, ready_path=False, strategy=lambda record: None)
    result = app.test_cli_runner().invoke(shutdown_command, ["config"])
    lines = result.output.splitlines()
    assert lines[0].split() == ["endpoint", "off", "(no", "credential)"]
    assert any(
        line.split()[:2] == ["ready", "path"] and line.endswith("off") for line in lines
    )
    assert any("callable" in line and "<lambda>" in line for line in lines)


FACTORY_APP = """
import os

from flask import Flask

from flask_shutdown import Shutdown

shutdown = Shutdown()


def create_app():
    app = Flask(__name__)
    app.config["SHUTDOWN_SIGNED_TOKENS"] = True
    app.config["SHUTDOWN_TOKEN"] = "misspelled-and-ignored-0123"

    if "SECRET_KEY" in os.environ:
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]

    shutdown.init_app(app)
    return app
"""


@pytest.mark.parametrize("command", ["token", "config"])
def test_configuration_error_is_one_line(tmp_path: Path, command: str) -> None:
    (tmp_path / "factory.py").write_text(textwrap.dedent(FACTORY_APP))
    rv = flask("--app", "factory", "shutdown", command, cwd=tmp_path)
    assert rv.returncode == 1
    assert "Traceback" not in rv.stderr
    lines = [
        line for line in rv.stderr.splitlines() if "Unknown config key" not in line
    ]
    assert lines == [
        "Error: The app could not be loaded: SHUTDOWN_SIGNED_TOKENS is on but"
        " 'SECRET_KEY' is not set. Use a long random value, such as the output"
        ' of python -c "import secrets; print(secrets.token_urlsafe(32))".'
    ]


def test_config_through_the_flask_executable(tmp_path: Path) -> None:
    (tmp_path / "factory.py").write_text(textwrap.dedent(FACTORY_APP))
    rv = flask(
        "--app", "factory", "shutdown", "config", cwd=tmp_path, SECRET_KEY=SECRET_KEY
    )
    assert rv.returncode == 0, rv.stderr
    assert "signed tokens     on, valid 300 s" in rv.stdout
    assert SECRET_KEY not in rv.stdout + rv.stderr
    # The misspelled key was reported when the app was set up.
    assert (
        "Unknown config key 'SHUTDOWN_TOKEN': Flask-Shutdown does not read it."
        " Did you mean 'SHUTDOWN_TOKENS'?"
    ) in rv.stderr
    assert "misspelled-and-ignored" not in rv.stderr
