"""Brute force: after SHUTDOWN_LOCKOUT_ATTEMPTS failures from one address
within SHUTDOWN_LOCKOUT_WINDOW seconds, that address gets 429.
"""

from __future__ import annotations

import concurrent.futures
import threading
import typing as t

import pytest
import requests

import flask_shutdown.auth
from flask_shutdown import ShutdownRefused
from flask_shutdown.security import Lockout

from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

BEARER = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer wrong-token-0123456789"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _get(client: t.Any, remote_addr: str = "127.0.0.1", **kwargs: t.Any) -> t.Any:
    return client.get(
        "/shutdown/status", environ_base={"REMOTE_ADDR": remote_addr}, **kwargs
    )


def test_locked_after_n_failures_others_still_work(make_app: AppFactory) -> None:
    app, _ = make_app()
    client = app.test_client()
    assert app.config["SHUTDOWN_LOCKOUT_ATTEMPTS"] == 5
    assert app.config["SHUTDOWN_LOCKOUT_WINDOW"] == 60

    statuses = [_get(client, headers=WRONG).status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3

    rv = client.post("/shutdown", headers=WRONG)
    assert rv.status_code == 429
    assert rv.json["error"] == "too_many_attempts"
    assert "SHUTDOWN_LOCKOUT_ATTEMPTS" in rv.json["message"]
    assert 1 <= int(rv.headers["Retry-After"]) <= 60
    # Even valid credentials wait: the address is locked, not the secret.
    assert client.post("/shutdown", headers=BEARER).status_code == 429
    assert app.extensions["shutdown"].coordinator.record is None
    # Valid credentials from another address still work.
    assert _get(client, "127.0.0.2", headers=BEARER).status_code == 200
    assert _get(client, "::1", auth=(USER, PASSWORD)).status_code == 200


def test_counted_before_the_password_hash_runs(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = make_app()
    lockout = app.extensions["shutdown"].guard.lockout
    counted_at_hash: list[int] = []
    real = flask_shutdown.auth.check_password_hash

    def spy(stored: str, password: str) -> bool:
        counted_at_hash.append(lockout.count("127.0.0.1"))
        return real(stored, password)

    monkeypatch.setattr(flask_shutdown.auth, "check_password_hash", spy)
    client = app.test_client()
    statuses = [_get(client, auth=(USER, "wrong")).status_code for _ in range(9)]

    assert statuses == [401] * 5 + [429] * 4
    # The hash ran for the first five only, and each time the attempt it
    # checks was already counted.
    assert counted_at_hash == [1, 2, 3, 4, 5]


def test_concurrent_burst_lets_exactly_n_through(
    make_app: AppFactory, serve: t.Any
) -> None:
    # 20 guesses at once against the real, slow password hash: counting
    # only after the hash would let all of them in.
    app, _ = make_app()
    server = serve(app)
    barrier = threading.Barrier(20, timeout=10)

    def guess(i: int) -> int:
        barrier.wait()
        return requests.post(
            f"{server.url}/shutdown", auth=(USER, f"guess-{i}"), timeout=30
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(pool.map(guess, range(20)))

    assert statuses == [401] * 5 + [429] * 15
    assert app.extensions["shutdown"].coordinator.record is None


def test_concurrent_valid_requests_are_not_locked_out(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, _ = make_app()
    server = serve(app)
    barrier = threading.Barrier(12, timeout=10)

    def read(i: int) -> int:
        barrier.wait()
        return requests.get(
            f"{server.url}/shutdown/status", auth=(USER, PASSWORD), timeout=30
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        assert list(pool.map(read, range(12))) == [200] * 12


def test_n_attempts_per_window(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_LOCKOUT_ATTEMPTS=3, SHUTDOWN_LOCKOUT_WINDOW=30)
    clock = FakeClock()
    app.extensions["shutdown"].guard.lockout.clock = clock
    client = app.test_client()
    let_through = []

    for _ in range(4):
        statuses = []

        for _ in range(10):
            statuses.append(_get(client, headers=WRONG).status_code)
            clock.now += 1

        assert set(statuses) == {401, 429}
        let_through.append(statuses.count(401))
        clock.now += 30

    assert let_through == [3, 3, 3, 3]


def test_retry_after_counts_down(make_app: AppFactory) -> None:
    app, _ = make_app()
    clock = FakeClock()
    app.extensions["shutdown"].guard.lockout.clock = clock
    client = app.test_client()

    for _ in range(5):
        _get(client, headers=WRONG)

    clock.now += 10.5
    rv = _get(client, headers=BEARER)
    assert rv.status_code == 429
    assert rv.headers["Retry-After"] == "50"
    clock.now += 49.6
    assert _get(client, headers=BEARER).status_code == 200


def test_success_does_not_wipe_earlier_failures(make_app: AppFactory) -> None:
    # A token that may only read the status must not reset the count
    # between guesses at a stronger credential.
    app, _ = make_app(SHUTDOWN_ROLES={"token:0": ["status"]})
    client = app.test_client()

    for _ in range(4):
        assert client.post("/shutdown", auth=(USER, "guess")).status_code == 401
        assert _get(client, headers=BEARER).status_code == 200

    assert client.post("/shutdown", auth=(USER, "guess")).status_code == 401
    assert client.post("/shutdown", auth=(USER, "guess")).status_code == 429


def test_missing_credentials_count_too(make_app: AppFactory) -> None:
    app, _ = make_app()
    client = app.test_client()
    assert [_get(client).status_code for _ in range(6)] == [401] * 5 + [429]


def test_ipv6_counted_per_64(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_ALLOWED_NETWORKS=["2001:db8::/32"])
    client = app.test_client()
    statuses = [
        _get(client, f"2001:db8::{i + 1}", headers=WRONG).status_code for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    assert _get(client, "2001:db8:0:1::1", headers=BEARER).status_code == 200


def test_zero_attempts_turns_it_off(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_LOCKOUT_ATTEMPTS=0)
    client = app.test_client()
    assert {_get(client, headers=WRONG).status_code for _ in range(20)} == {401}


def test_store_is_bounded_when_addresses_rotate(make_app: AppFactory) -> None:
    app, _ = make_app()
    lockout = app.extensions["shutdown"].guard.lockout
    lockout.max_entries = 50
    client = app.test_client()

    for i in range(300):
        _get(client, f"127.0.{i // 250}.{i % 250 + 1}", headers=WRONG)
        assert len(lockout) <= 50


def test_lockout_bounded_and_forgets_expired_first() -> None:
    clock = FakeClock()
    lockout = Lockout(2, 10, max_entries=3, clock=clock)

    def fail(key: str) -> None:
        lockout.finish(lockout.reserve(key), failed=True)

    fail("old")
    clock.now += 20
    fail("a")
    fail("a")
    fail("b")
    with pytest.raises(ShutdownRefused):
        lockout.reserve("a")

    # Full: the expired "old" goes first, and "a" stays locked.
    fail("c")
    assert len(lockout) == 3
    with pytest.raises(ShutdownRefused):
        lockout.reserve("a")

    # Still full of live entries: the least recently seen goes.
    fail("d")
    assert len(lockout) == 3
    assert lockout.count("b") == 0


def test_success_entries_are_dropped() -> None:
    lockout = Lockout(5, 60)

    for i in range(100):
        attempt = lockout.reserve(f"k{i}")
        lockout.finish(attempt, failed=False)

    assert len(lockout) == 0
