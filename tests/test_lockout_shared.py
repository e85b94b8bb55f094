"""One lockout per server, and per fleet: the failed attempts of every
worker of a gunicorn or uWSGI server count together through the server's
state file, and those of every instance that names the same Redis count
together there. A store that stops answering refuses closed and is
recovered from.
"""

from __future__ import annotations

import collections.abc as cabc
import concurrent.futures
import json
import multiprocessing
import os
import threading
import time
import typing as t
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bench.state import concurrent_shutdowns
from bench.state import wrong_guesses
from flask_shutdown import ServerThread
from flask_shutdown import shared
from flask_shutdown import ShutdownRefused
from flask_shutdown.cli import shutdown_command
from flask_shutdown.security import Lockout

from ._proc import Proc
from ._proc import ROOT
from ._servers import APP_MODULE
from ._servers import tool
from ._servers import wait_ready
from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER
from .test_security_lockout import _loopback
from .test_security_lockout import _post_from
from .test_shared_state import probe_all_workers
from .test_storage_redis import fleet_app
from .test_storage_redis import Redis

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer wrong-token-0123456789"}
CLOSE = {"Connection": "close"}


@pytest.fixture
def redis(tmp_path: Path) -> cabc.Iterator[Redis]:
    server = Redis(tmp_path)
    server.start()
    yield server
    server.stop()


def read_status(url: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{url}/shutdown/status", headers=headers, timeout=30)


def gunicorn(tmp_path: Path, config: dict[str, t.Any] | None = None) -> Proc:
    args = [tool("gunicorn"), "-b", "127.0.0.1:0", "-w", "4", "--no-control-socket"]
    args += [f"{APP_MODULE}:app"]
    (tmp_path / "hooks.log").touch()
    env = {
        "HOOK_LOG": str(tmp_path / "hooks.log"),
        "SHUTDOWN_TEST_CONFIG": json.dumps(config or {}),
    }
    return Proc(args, tmp_path / "server.log", env=env, cwd=ROOT)


def gunicorn_url(proc: Proc) -> str:
    url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
    proc.wait_for_output(r"(?s)(Booting worker with pid: \d+.*){4}")
    wait_ready(proc, f"{url}/pid")
    # Every worker has imported the app and answers.
    assert len(probe_all_workers(url, 4)[0]) == 4
    return url


def test_gunicorn_workers_share_the_client_budget(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as proc:
        url = gunicorn_url(proc)
        statuses = wrong_guesses(url, 40, concurrency=8)
        assert statuses == {401: 5, 429: 35}

        # Basic passwords are reserved before they are hashed, across
        # workers too: the client's budget is used up.
        rv = requests.get(
            f"{url}/shutdown/status", auth=(USER, PASSWORD), headers=CLOSE, timeout=30
        )
        assert rv.status_code == 429
        assert 1 <= int(rv.headers["Retry-After"]) <= 60
        # The operator's token still gets in, on any worker.
        for _ in range(8):
            rv = requests.get(f"{url}/shutdown/status", headers={**AUTH, **CLOSE})
            assert rv.status_code == 200

        proc.kill()


def test_gunicorn_workers_share_concurrent_password_reservations(
    tmp_path: Path,
) -> None:
    # Wrong passwords hash slowly: the reservations of one worker hold
    # back the guesses another worker receives meanwhile.
    with gunicorn(tmp_path) as proc:
        url = gunicorn_url(proc)

        def guess(i: int) -> int:
            return requests.post(
                f"{url}/shutdown", auth=(USER, f"guess-{i}"), headers=CLOSE, timeout=30
            ).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = sorted(pool.map(guess, range(16)))

        assert statuses == [401] * 5 + [429] * 11
        proc.kill()


def test_concurrent_valid_passwords_converge_on_one_shutdown(tmp_path: Path) -> None:
    # Reservations are shared, so valid passwords arriving at once on
    # several workers wait for each other's outcome, never for a lockout;
    # every request is answered and joins one shutdown.
    with gunicorn(tmp_path) as proc:
        url = gunicorn_url(proc)
        seen = concurrent_shutdowns(url, n=8, auth=(USER, PASSWORD))
        assert seen.statuses == [202] * 8
        assert len(seen.ids) == 1
        assert proc.wait_exit(60) == 0

    assert proc.output().count("shutdown_requested") == 1


def test_gunicorn_workers_share_the_global_budget(tmp_path: Path) -> None:
    # Each loopback address its own client: the budget for all clients
    # together holds across workers.
    config = {"SHUTDOWN_LOCKOUT_SHARED_NETWORKS": [], "SHUTDOWN_LOCKOUT_ATTEMPTS": 2}
    config["SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS"] = 7

    with gunicorn(tmp_path, config) as proc:
        url = gunicorn_url(proc)
        port = int(url.rsplit(":", 1)[1])
        wrong = {"Authorization": "Bearer wrong-token-0123456789", **CLOSE}

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = sorted(
                pool.map(lambda i: _post_from(port, _loopback(i), wrong), range(30))
            )

        assert statuses == [401] * 7 + [429] * 23
        proc.kill()


def test_uwsgi_workers_share_the_client_budget(tmp_path: Path) -> None:
    (tmp_path / "hooks.log").touch()
    args = [tool("uwsgi"), "--master", "--processes", "2", "--enable-threads"]
    args += ["--http-socket", "127.0.0.1:0", "--module", f"{APP_MODULE}:app"]
    args += ["--need-app", "--master-fifo", str(tmp_path / "master.fifo")]
    env = {"HOOK_LOG": str(tmp_path / "hooks.log")}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        port = proc.wait_for_output(r"bound to TCP address 127\.0\.0\.1:(\d+)").group(1)
        url = f"http://127.0.0.1:{port}"
        proc.wait_for_output(r"(?s)(spawned uWSGI worker \d+ \(pid: \d+.*){2}")
        wait_ready(proc, f"{url}/pid")
        assert len(probe_all_workers(url, 2)[0]) == 2
        assert wrong_guesses(url, 40, concurrency=4) == {401: 5, 429: 35}
        rv = requests.get(f"{url}/shutdown/status", headers={**AUTH, **CLOSE})
        assert rv.status_code == 200
        proc.kill()

    assert "Traceback" not in proc.output()


# -- the file, without a server ----------------------------------------------


def _guess_in_process(
    path: str, n: int, results: multiprocessing.Queue[object]
) -> None:
    lockout = Lockout(5, 60, state=shared.FileState(Path(path)))
    outcomes = []

    for _ in range(n):
        try:
            lockout.fail("client")
        except ShutdownRefused:
            outcomes.append(429)
        else:
            outcomes.append(401)

    results.put(outcomes)


def test_processes_count_together_in_the_file(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[object] = ctx.Queue()
    path = str(tmp_path / "1-app-lockout.state")
    procs = [
        ctx.Process(target=_guess_in_process, args=(path, 10, results))
        for _ in range(4)
    ]

    for p in procs:
        p.start()

    outcomes: list[int] = []

    for _ in procs:
        outcomes += t.cast(list[int], results.get(timeout=30))

    for p in procs:
        p.join(30)

    assert sorted(outcomes) == [401] * 5 + [429] * 35
    assert (tmp_path / "1-app-lockout.state").stat().st_mode & 0o777 == 0o600


def _reserve_and_die(path: str) -> None:
    Lockout(1, 60, state=shared.FileState(Path(path))).reserve("client")
    os._exit(0)


def test_a_dead_workers_reservation_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "1-app-lockout.state"
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_reserve_and_die, args=(str(path),))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    lockout = Lockout(1, 60, state=shared.FileState(path), wait_timeout=1)
    # The reservation of the exited process does not hold the one attempt.
    attempt = lockout.reserve("client")
    lockout.finish(attempt, failed=True)

    with pytest.raises(ShutdownRefused):
        lockout.reserve("client")


def test_unusable_file_falls_back_to_the_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "1-app-lockout.state"
    path.write_text("{}")
    path.chmod(0o644)
    lockout = Lockout(2, 60, state=shared.FileState(path))
    lockout.fail("client")
    lockout.fail("client")

    with pytest.raises(ShutdownRefused):
        lockout.fail("client")

    assert caplog.text.count("cannot be used") == 1


# -- the fleet: one Redis ----------------------------------------------------


def test_three_instances_share_one_budget(redis: Redis) -> None:
    servers = []

    for _ in range(3):
        app, _ = fleet_app(redis.uri)
        server = ServerThread(app, port=0)
        server.start()
        servers.append(server)

    wrong = {"Authorization": "Bearer wrong-token-0123456789"}

    try:

        def guess(i: int) -> int:
            url = servers[i % 3].url
            return requests.get(
                f"{url}/shutdown/status", headers=wrong, timeout=30
            ).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            statuses = sorted(pool.map(guess, range(30)))

        assert statuses == [401] * 5 + [429] * 25
        lockouts = [s.app.extensions["shutdown"].guard.lockout for s in servers]
        assert {lockout.count("loopback") for lockout in lockouts} == {5}
        # A valid token is compared before the store is asked.
        for server in servers:
            rv = requests.get(f"{server.url}/shutdown/status", headers=AUTH, timeout=30)
            assert rv.status_code == 200
    finally:
        for server in servers:
            server.stop_serving()


def test_three_gunicorn_servers_share_one_budget_in_redis(
    tmp_path: Path, redis: Redis
) -> None:
    # Three servers of two workers each, as three hosts would run them:
    # the guesses spread over six workers count once.
    procs = []

    try:
        for i in range(3):
            folder = tmp_path / f"server-{i}"
            folder.mkdir()
            args = [tool("gunicorn"), "-b", "127.0.0.1:0", "-w", "2"]
            args += ["--no-control-socket", f"{APP_MODULE}:app"]
            (folder / "hooks.log").touch()
            env = {
                "HOOK_LOG": str(folder / "hooks.log"),
                "SHUTDOWN_STORAGE_URI": redis.uri,
            }
            procs.append(Proc(args, folder / "server.log", env=env, cwd=ROOT))

        urls = []

        for proc in procs:
            pattern = r"Listening at: (http://127\.0\.0\.1:\d+)"
            url = proc.wait_for_output(pattern).group(1)
            proc.wait_for_output(r"(?s)(Booting worker with pid: \d+.*){2}")
            wait_ready(proc, f"{url}/pid")
            urls.append(url)

        def guess(i: int) -> int:
            headers = {**WRONG, **CLOSE}
            return requests.post(
                f"{urls[i % 3]}/shutdown", headers=headers, timeout=30
            ).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            statuses = sorted(pool.map(guess, range(30)))

        assert statuses == [401] * 5 + [429] * 25
        # The operator's token is not locked out on any of them.
        for url in urls:
            assert read_status(url, {**AUTH, **CLOSE}).status_code == 200
    finally:
        for proc in procs:
            proc.kill()


def test_three_instances_share_the_global_budget(redis: Redis) -> None:
    servers = []

    for _ in range(3):
        app, _ = fleet_app(
            redis.uri,
            SHUTDOWN_LOCKOUT_SHARED_NETWORKS=[],
            SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS=7,
        )
        server = ServerThread(app, port=0)
        server.start()
        servers.append(server)

    wrong = {"Authorization": "Bearer wrong-token-0123456789"}

    try:
        statuses = [
            _post_from(servers[i % 3].port, _loopback(i), wrong) for i in range(30)
        ]
        assert sorted(statuses) == [401] * 7 + [429] * 23
        assert _post_from(servers[0].port, _loopback(99), AUTH) == 202
    finally:
        for server in servers:
            server.stop_serving()


def test_redis_restart_fails_closed_then_recovers(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = fleet_app(redis.uri)
    server = ServerThread(app, port=0)
    server.start()
    url = server.url
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}

    try:
        assert [
            requests.get(
                f"{url}/shutdown/status", headers=wrong, timeout=30
            ).status_code
            for _ in range(3)
        ] == [401] * 3

        redis.stop()
        # Neither a wrong token nor a password is checked without the
        # store: 503, never a 401 that would let guessing go on uncounted.
        during = [read_status(url, WRONG) for _ in range(10)]
        during.append(
            requests.get(f"{url}/shutdown/status", auth=(USER, PASSWORD), timeout=30)
        )
        assert {rv.status_code for rv in during} == {503}
        assert {rv.json()["error"] for rv in during} == {"store_unavailable"}
        assert {rv.headers["Retry-After"] for rv in during} == {"1"}
        assert caplog.text.count("does not answer") == 1
        # Readiness, the app, and a valid token are unaffected.
        assert requests.get(f"{url}/shutdown/ready", timeout=30).status_code == 200
        assert requests.get(f"{url}/", timeout=30).text == "ok"
        rv = requests.get(f"{url}/shutdown/status", headers=AUTH, timeout=30)
        assert rv.status_code == 200

        # Back, without its data (no persistence): counting starts again.
        redis.start()
        statuses = [
            requests.get(
                f"{url}/shutdown/status", headers=wrong, timeout=30
            ).status_code
            for _ in range(7)
        ]
        assert statuses == [401] * 5 + [429] * 2
        assert "answers again" in caplog.text
    finally:
        server.stop_serving()


# -- the fleet status --------------------------------------------------------


def test_fleet_status_lists_each_instances_last_shutdown(redis: Redis) -> None:
    servers = []

    for i in range(3):
        app, _ = fleet_app(
            redis.uri,
            SHUTDOWN_FLEET_STATUS=True,
            SHUTDOWN_INSTANCE_NAME=f"web-{i}",
        )
        server = ServerThread(app, port=0)
        server.start()
        servers.append(server)

    try:
        rv = read_status(servers[0].url, AUTH)
        assert "instances" not in rv.json()
        fleet = requests.get(
            f"{servers[0].url}/shutdown/status?fleet=1", headers=AUTH, timeout=30
        )
        assert fleet.json() == {"instances": []}

        stopped = []

        for server in servers[:2]:
            rv = requests.post(f"{server.url}/shutdown", headers=AUTH, timeout=30)
            assert rv.status_code == 202
            stopped.append(rv.json()["shutdown_id"])
            assert server.wait_stopped(30)

        # Read from the instance still running.
        fleet = requests.get(
            f"{servers[2].url}/shutdown/status?fleet=1", headers=AUTH, timeout=30
        )
        instances = fleet.json()["instances"]
        assert [i["instance"] for i in instances] == ["web-0", "web-1"]
        assert [i["shutdown_id"] for i in instances] == stopped
        assert {i["phase"] for i in instances} == {"stopped"}
        # The CLI lists them, one line each.
        out = CliRunner().invoke(
            shutdown_command,
            ["status", "--fleet", "--token", TOKEN, servers[2].url],
        )
        assert out.exit_code == 0, out.output
        lines = out.output.splitlines()
        assert [line.split()[:3] for line in lines] == [
            ["web-0", "stopped", stopped[0]],
            ["web-1", "stopped", stopped[1]],
        ]
        # Unauthenticated, the fleet is not shown.
        rv = requests.get(f"{servers[2].url}/shutdown/status?fleet=1", timeout=30)
        assert rv.status_code == 401
    finally:
        for server in servers:
            server.stop_serving()


def test_fleet_status_is_refused_without_the_opt_in(
    make_app: AppFactory, redis: Redis
) -> None:
    app, _ = make_app()
    rv = app.test_client().get("/shutdown/status?fleet=1", headers=AUTH)
    assert rv.status_code == 409
    assert rv.json["error"] == "fleet_status_off"
    assert "SHUTDOWN_FLEET_STATUS" in rv.json["message"]
    assert app.test_client().get("/shutdown/status?fleet=yes", headers=AUTH).json[
        "error"
    ] == ("bad_query")

    with pytest.raises(RuntimeError, match="SHUTDOWN_STORAGE_URI"):
        make_app(SHUTDOWN_FLEET_STATUS=True)

    # With the store down, the read fails closed like any store call.
    fleet, _ = fleet_app(redis.uri, SHUTDOWN_FLEET_STATUS=True)
    redis.stop()
    rv = fleet.test_client().get("/shutdown/status?fleet=1", headers=AUTH)
    assert rv.status_code == 503
    assert rv.json["error"] == "store_unavailable"


def test_threads_of_one_process_count_together_in_the_file(tmp_path: Path) -> None:
    # flock alone does not keep apart the threads of one process.
    lockout = Lockout(5, 60, state=shared.FileState(tmp_path / "1-app-lockout.state"))
    barrier = threading.Barrier(16, timeout=10)

    def guess(_: int) -> int:
        barrier.wait()

        try:
            lockout.fail("client")
        except ShutdownRefused:
            return 429

        return 401

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        assert sorted(pool.map(guess, range(16))) == [401] * 5 + [429] * 11


def test_times_of_another_clock_are_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "1-app-lockout.state"
    ahead = time.monotonic() + 10_000
    doc = {"c": {"client": [ahead] * 5}, "a": [ahead] * 5, "p": {}}
    path.write_text(json.dumps({"lockout": doc}))
    path.chmod(0o600)
    lockout = Lockout(5, 60, state=shared.FileState(path))
    lockout.fail("client")
    assert lockout.count("client") == 1


def test_a_mangled_document_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "1-app-lockout.state"
    path.write_text(json.dumps({"lockout": {"c": [], "a": "x", "p": {"r": None}}}))
    path.chmod(0o600)
    lockout = Lockout(5, 60, state=shared.FileState(path))
    lockout.fail("client")
    assert lockout.count("client") == 1
