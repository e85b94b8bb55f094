"""Every example, run as its docstring says: the apps as real server
processes, stopped by the admin script, the curl script and the CLI, and
the pytest example with pytest.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from werkzeug.security import generate_password_hash

from ._proc import BIN
from ._proc import Proc
from ._proc import PYTHON
from ._proc import ROOT

EXAMPLES = ROOT / "examples"
TOKEN = "example-token-for-the-tests-0123456789"


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "SHUTDOWN_", "WERKZEUG_"))
    }
    env.update(extra, PORT="0")
    return env


def start(name: str, tmp_path: Path, **env: str) -> tuple[Proc, str]:
    proc = Proc(
        [PYTHON, str(EXAMPLES / name)],
        tmp_path / f"{name}.log",
        env=clean_env(**env),
        cwd=EXAMPLES,
    )
    url = proc.wait_for_output(r"Serving on (\S+)").group(1)
    return proc, url


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=EXAMPLES,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_app_and_admin_script(tmp_path: Path) -> None:
    proc, url = start("token_app.py", tmp_path, SHUTDOWN_TOKEN=TOKEN)

    with proc:
        assert requests.get(url + "/", timeout=5).text.startswith("Hello")
        answers: list[str] = []
        slow = threading.Thread(
            target=lambda: answers.append(
                requests.get(url + "/slow?s=0.5", timeout=10).text
            )
        )
        slow.start()
        proc.wait_for_output(r"slow request started")
        rv = run(
            [PYTHON, "admin_script.py", url, "--reason", "test"], SHUTDOWN_TOKEN=TOKEN
        )
        slow.join(10)
        assert rv.returncode == 0, rv.stdout + rv.stderr
        assert "accepted" in rv.stdout
        assert rv.stdout.rstrip().endswith("stopped")
        # The request that was running when the shutdown began completed.
        assert answers == ["slow request done\n"]
        assert proc.wait_exit() == 0
        assert "closing the connection pool" in proc.output()


def test_admin_script_refused(tmp_path: Path) -> None:
    proc, url = start("token_app.py", tmp_path, SHUTDOWN_TOKEN=TOKEN)

    with proc:
        rv = run([PYTHON, "admin_script.py", url], SHUTDOWN_TOKEN="wrong-" + TOKEN)
        assert rv.returncode == 3
        assert "refused: 401" in rv.stdout
        assert requests.get(url + "/", timeout=5).ok


def test_token_app_and_curl_script(tmp_path: Path) -> None:
    proc, url = start("token_app.py", tmp_path, SHUTDOWN_TOKEN=TOKEN)

    with proc:
        rv = run(["sh", "shutdown.sh", url, "deploy"], SHUTDOWN_TOKEN=TOKEN)
        assert rv.returncode == 0, rv.stdout + rv.stderr
        assert rv.stdout.splitlines()[0] == "accepted"
        assert rv.stdout.splitlines()[-1] == "stopped"
        assert proc.wait_exit() == 0
        assert "closing the connection pool" in proc.output()
        assert "reason 'deploy'" in proc.output()


def test_token_app_and_cli(tmp_path: Path) -> None:
    proc, url = start("token_app.py", tmp_path, SHUTDOWN_TOKEN=TOKEN)

    with proc:
        rv = run([str(BIN / "flask"), "shutdown", "send", url], SHUTDOWNCTL_TOKEN=TOKEN)
        assert rv.returncode == 0, rv.stdout + rv.stderr
        assert proc.wait_exit() == 0
        assert "closing the connection pool" in proc.output()


def test_curl_script_refused(tmp_path: Path) -> None:
    proc, url = start("token_app.py", tmp_path, SHUTDOWN_TOKEN=TOKEN)

    with proc:
        rv = run(["sh", "shutdown.sh", url], SHUTDOWN_TOKEN="wrong-" + TOKEN)
        assert rv.returncode == 3
        assert rv.stdout.strip() == "refused: HTTP 401"


def test_basic_app_and_admin_script(tmp_path: Path) -> None:
    password = "a basic password"
    proc, url = start(
        "basic_app.py",
        tmp_path,
        SHUTDOWN_PASSWORD_HASH=generate_password_hash(password),
    )

    with proc:
        rv = run(
            [PYTHON, "admin_script.py", url],
            SHUTDOWN_USER="admin",
            SHUTDOWN_PASSWORD=password,
        )
        assert rv.returncode == 0, rv.stdout + rv.stderr
        assert proc.wait_exit() == 0
        assert "flushing the cache" in proc.output()
        assert "user:admin" in proc.output()


def test_basic_app_and_cli_with_hashed_password(tmp_path: Path) -> None:
    """The docstring's way: hash-password, then send with a user."""
    password = "hashed by the cli"
    hashed = subprocess.run(
        [str(BIN / "flask"), "shutdown", "hash-password"],
        input=password + "\n",
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert hashed.returncode == 0, hashed.stderr
    proc, url = start(
        "basic_app.py", tmp_path, SHUTDOWN_PASSWORD_HASH=hashed.stdout.strip()
    )

    with proc:
        rv = run(
            [str(BIN / "flask"), "shutdown", "send", url],
            SHUTDOWNCTL_USER="admin",
            SHUTDOWNCTL_PASSWORD=password,
        )
        assert rv.returncode == 0, rv.stdout + rv.stderr
        assert proc.wait_exit() == 0


def test_factory_app_and_cli_token(tmp_path: Path) -> None:
    secret = "a-secret-key-for-the-factory-example"
    proc, url = start("factory_app.py", tmp_path, SECRET_KEY=secret)

    with proc:
        token = run(
            [str(BIN / "flask"), "--app", "factory_app", "shutdown", "token"]
            + ["--expires", "60"],
            SECRET_KEY=secret,
        )
        assert token.returncode == 0, token.stderr
        rv = run(
            [str(BIN / "flask"), "shutdown", "send", url, "--reason", "deploy"],
            SHUTDOWNCTL_TOKEN=token.stdout.strip(),
        )
        assert rv.returncode == 0, rv.stdout + rv.stderr
        assert proc.wait_exit() == 0
        assert "saving state" in proc.output()
        assert "requested by signed:" in proc.output()


@pytest.mark.parametrize("name", ["test_example.py", "test_unit_shutdown.py"])
def test_pytest_examples(name: str) -> None:
    rv = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        cwd=EXAMPLES,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rv.returncode == 0, rv.stdout + rv.stderr
    assert "2 passed" in rv.stdout
