"""One server, one state: every worker process of a gunicorn or uWSGI
server sees the shutdown another worker accepted (readiness, status, the
shutdown id), and concurrent shutdown requests converge on one shutdown.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import re
import typing as t
from pathlib import Path

import pytest
import requests

from flask_shutdown import shared
from flask_shutdown import state as app_state
from flask_shutdown.tokens import TokenSigner

from ._proc import Proc
from ._proc import ROOT
from ._servers import APP_MODULE
from ._servers import tool
from ._servers import wait_ready
from .conftest import AppFactory
from .conftest import SECRET_KEY
from .conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: One connection per request, so that the kernel hands the probes to
#: different workers.
CLOSE = {"Connection": "close"}


def probe_all_workers(url: str, workers: int) -> tuple[set[int], list[bool]]:
    """Ask ``/whoami`` until ``workers`` workers answered (bounded). The
    requests of a batch are concurrent and slow, so that each sync worker
    holds one and the next goes to another.
    """
    pids: set[int] = set()
    readiness: list[bool] = []

    def ask(_: int) -> dict[str, t.Any]:
        rv = requests.get(f"{url}/whoami?s=0.2", headers=CLOSE, timeout=10)
        return rv.json()  # type: ignore[no-any-return]

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in range(20):
            for data in pool.map(ask, range(workers)):
                pids.add(data["pid"])
                readiness.append(data["ready"])

            if len(pids) >= workers:
                break

    return pids, readiness


def check_one_state(url: str, workers: int) -> None:
    # All workers ready before the shutdown.
    pids, readiness = probe_all_workers(url, workers)
    assert len(pids) == workers and all(readiness)

    # Eight concurrent requests, on any workers, yield one shutdown; every
    # one is answered.
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda _: requests.post(
                    f"{url}/shutdown", headers={**AUTH, **CLOSE}, timeout=10
                ),
                range(8),
            )
        )

    assert [rv.status_code for rv in answers] == [202] * 8
    ids = {rv.json()["shutdown_id"] for rv in answers}
    assert len(ids) == 1

    # Every other worker now says not ready, and so does the endpoint. The
    # worker running the shutdown serves nothing more: with sync workers
    # it waits, inline, for the others to empty the accept queue.
    pids, readiness = probe_all_workers(url, workers - 1)
    assert len(pids) == workers - 1 and not any(readiness)
    codes = [
        requests.get(f"{url}/shutdown/ready", headers=CLOSE, timeout=10).status_code
        for _ in range(16)
    ]
    assert codes == [503] * 16

    # Status from any worker: the same shutdown, never "running".
    reports = [
        requests.get(f"{url}/shutdown/status", headers={**AUTH, **CLOSE}, timeout=10)
        for _ in range(6)
    ]
    assert {r.json()["shutdown_id"] for r in reports} == ids
    assert {r.json()["phase"] for r in reports} == {"draining"}


def test_gunicorn_workers_share_one_state(tmp_path: Path) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [tool("gunicorn"), "-b", "127.0.0.1:0", "-w", "4", "--no-control-socket"]
    args += ["--graceful-timeout", "30", f"{APP_MODULE}:app"]
    # The drain delay keeps the workers serving while the test looks.
    env = {"HOOK_LOG": str(hook_log), "SHUTDOWN_DRAIN_DELAY": "4"}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
        proc.wait_for_output(r"(?s)(Booting worker with pid: \d+.*){4}")
        wait_ready(proc, f"{url}/pid")
        check_one_state(url, 4)
        assert proc.wait_exit(60) == 0

    # Only one worker ran the shutdown; the others joined it.
    assert proc.output().count("shutdown_requested") == 1
    assert proc.output().count("shutdown_in_progress") == 7


def test_uwsgi_workers_share_one_state(tmp_path: Path) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [tool("uwsgi"), "--master", "--processes", "2", "--enable-threads"]
    args += ["--http-socket", "127.0.0.1:0", "--module", f"{APP_MODULE}:app"]
    args += ["--need-app", "--master-fifo", str(tmp_path / "master.fifo")]
    env = {"HOOK_LOG": str(hook_log), "SHUTDOWN_DRAIN_DELAY": "4"}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        port = proc.wait_for_output(r"bound to TCP address 127\.0\.0\.1:(\d+)").group(1)
        url = f"http://127.0.0.1:{port}"
        proc.wait_for_output(r"(?s)(spawned uWSGI worker \d+ \(pid: \d+.*){2}")
        wait_ready(proc, f"{url}/pid")
        check_one_state(url, 2)
        assert proc.wait_exit(60) == 0

    assert not re.search(r"Traceback", proc.output())


def test_one_signed_token_stops_once_across_workers(tmp_path: Path) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [tool("gunicorn"), "-b", "127.0.0.1:0", "-w", "4", "--no-control-socket"]
    args += ["--graceful-timeout", "30", f"{APP_MODULE}:app"]
    env = {
        "HOOK_LOG": str(hook_log),
        "SHUTDOWN_DRAIN_DELAY": "2",
        "SECRET_KEY": SECRET_KEY,
    }
    token = TokenSigner([SECRET_KEY]).create(60, ["shutdown", "status"])
    headers = {"Authorization": f"Bearer {token}", **CLOSE}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
        proc.wait_for_output(r"(?s)(Booting worker with pid: \d+.*){4}")
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(
                    lambda _: requests.post(
                        f"{url}/shutdown", headers=headers, timeout=10
                    ),
                    range(8),
                )
            )

        accepted = [rv for rv in answers if rv.status_code == 202]
        assert len(accepted) == 1
        # Each replay is a failed attempt: a worker that got more than
        # SHUTDOWN_LOCKOUT_ATTEMPTS of them locks the address out.
        refused = {rv.json()["error"] for rv in answers if rv.status_code != 202}
        assert refused <= {"token_used", "too_many_attempts"}
        assert "token_used" in refused
        assert proc.wait_exit(60) == 0

    assert proc.output().count("shutdown_requested") == 1


# -- the state file itself ----------------------------------------------------


def test_file_state_claim_publish_release(tmp_path: Path) -> None:
    state = shared.FileState(tmp_path / "1-app.state")
    first = {"shutdown_id": "a", "stopped_at": None, "phase": "draining"}
    assert state.read() is None
    assert state.claim(first) is None
    assert state.claim({"shutdown_id": "b", "stopped_at": None}) == first
    assert (tmp_path / "1-app.state").stat().st_mode & 0o777 == 0o600
    # Another shutdown's progress never overwrites this one.
    state.publish({"shutdown_id": "b", "phase": "hooks"})
    assert state.read() == first
    state.publish({**first, "phase": "stopped", "stopped_at": "now"})
    assert state.read() == {**first, "phase": "stopped", "stopped_at": "now"}
    state.release()
    assert not (tmp_path / "1-app.state").exists()


def test_file_with_loose_permissions_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "1-app.state"
    path.write_text("{}")
    path.chmod(0o644)
    state = shared.FileState(path)
    # Falls back to per-process state, with one log line, no exception.
    assert state.claim({"shutdown_id": "a", "stopped_at": None}) is None
    assert state.read() is None
    assert caplog.text.count("cannot be used") == 1


def _claim(path: str, n: int, results: multiprocessing.Queue[object]) -> None:
    record = {"shutdown_id": f"worker-{n}", "stopped_at": None}
    other = shared.FileState(Path(path)).claim(record)
    results.put(record["shutdown_id"] if other is None else other["shutdown_id"])


def test_concurrent_claims_from_processes_converge(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[object] = ctx.Queue()
    procs = [
        ctx.Process(target=_claim, args=(str(tmp_path / "1-app.state"), n, results))
        for n in range(6)
    ]

    for p in procs:
        p.start()

    for p in procs:
        p.join(30)
        assert p.exitcode == 0

    seen = {results.get(timeout=10) for _ in procs}
    assert len(seen) == 1


def test_stale_files_of_dead_masters_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    folder = shared.runtime_dir()
    assert folder.stat().st_mode & 0o777 == 0o700
    # A pid that no longer exists: a child that has been reaped.
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=int)
    child.start()
    child.join(10)
    stale = folder / f"{child.pid}-app.state"
    stale.write_text("{}")
    live = folder / f"{os.getpid()}-app.state"
    live.write_text("{}")
    state = shared.for_server(os.getpid(), "app")
    assert isinstance(state, shared.FileState)
    assert not stale.exists()
    assert live.exists()


def test_switch_keeps_state_per_process(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As a gunicorn worker would see it: a master process to share with.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setattr(app_state, "master_process", os.getpid)
    shared_app, _ = make_app()
    assert shared_app.config["SHUTDOWN_SHARED_STATE"] is True
    state = shared_app.extensions["shutdown"].coordinator.shared.state
    assert isinstance(state, shared.FileState)

    apart, _ = make_app(SHUTDOWN_SHARED_STATE=False)
    state = apart.extensions["shutdown"].coordinator.shared.state
    assert type(state) is shared.LocalState
