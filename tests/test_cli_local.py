"""'flask shutdown list' and 'flask shutdown stop': local servers found
through their runtime files and stopped with no URL or token typed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ._proc import BIN
from ._proc import Proc
from ._proc import ROOT

SERVE_APP = ROOT / "tests" / "apps" / "serve_app.py"


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "flask"), "shutdown", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def start(tmp_path: Path, n: int, env: dict[str, str]) -> tuple[Proc, str]:
    hook_log = tmp_path / f"hooks-{n}.log"
    hook_log.touch()
    proc = Proc(
        [sys.executable, str(SERVE_APP)],
        tmp_path / f"server-{n}.log",
        env={"HOOK_LOG": str(hook_log), **env},
    )
    return proc, proc.wait_for_output(r"Serving on (http://\S+)").group(1)


def test_list_and_stop_three_servers(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    procs = [start(tmp_path, n, env) for n in range(3)]
    # A fourth one killed outright leaves its file behind: ignored.
    killed, _ = start(tmp_path, 3, env)

    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait_exit(10)

        listed = flask(env, "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[0].split() == ["PID", "URL", "APP", "STARTED"]
        assert sorted(
            line.split()[0] for line in listed.stdout.splitlines()[1:]
        ) == sorted(str(p.pid) for p, _ in procs)
        entries = json.loads(flask(env, "list", "--json").stdout)
        assert {e["url"] for e in entries} == {url for _, url in procs}
        assert all("token" not in e for e in entries)

        # Several run: which one must be said.
        ambiguous = flask(env, "stop")
        assert ambiguous.returncode == 2
        assert "3 local servers run" in ambiguous.stderr

        first, first_url = procs[0]
        stopped = flask(env, "stop", first_url.rsplit(":", 1)[1])
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "exit code 0" in stopped.stdout + stopped.stderr
        assert first.wait_exit(30) == 0
        assert "requested by token:local" in first.output()

        rest = flask(env, "stop", "--all")
        assert rest.returncode == 0, rest.stdout + rest.stderr

        for proc, _ in procs[1:]:
            assert proc.wait_exit(30) == 0

        assert flask(env, "list").stdout.strip() == "No local server runs."
        assert list((runtime / "flask-shutdown" / "servers").iterdir()) == []
    finally:
        for proc, _ in [*procs, (killed, "")]:
            proc.__exit__(None, None, None)


def test_files_readable_by_others_are_refused(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    folder = runtime / "flask-shutdown" / "servers"
    folder.mkdir(parents=True)

    for path in (runtime / "flask-shutdown", folder):
        path.chmod(0o700)

    planted = folder / f"{os.getpid()}-5000.json"
    planted.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:5000"}))
    planted.chmod(0o644)
    rv = flask({"XDG_RUNTIME_DIR": str(runtime)}, "stop", "--all")
    assert rv.returncode == 1
    assert "readable by other users" in rv.stderr
    assert len(rv.stderr.strip().splitlines()) == 1


def test_flask_run_is_listed_and_stopped(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    env = {"XDG_RUNTIME_DIR": str(runtime), "HOOK_LOG": str(hook_log)}
    args = [str(BIN / "flask"), "--app", "tests.apps.serve_app", "run", "--port", "0"]

    with Proc(args, tmp_path / "flask-run.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Running on (http://127\.0\.0\.1:\d+)").group(1)

        # The file appears once the server is found (bounded wait).
        for _ in range(100):
            entries = json.loads(flask(env, "list", "--json").stdout)

            if entries:
                break

            time.sleep(0.1)

        assert [e["url"] for e in entries] == [url]
        stopped = flask(env, "stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert proc.wait_exit(30) == 0

    assert "hook close_db" in hook_log.read_text()
    assert flask(env, "list").stdout.strip() == "No local server runs."
