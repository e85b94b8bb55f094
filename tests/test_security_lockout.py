"""Brute force: after SHUTDOWN_LOCKOUT_ATTEMPTS failures from one client
within SHUTDOWN_LOCKOUT_WINDOW seconds, that client gets 429; after
SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS failures from all clients together,
everyone does. Loopback addresses are one client. A valid bearer token is
accepted all the same.
"""

from __future__ import annotations

import concurrent.futures
import http.client
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


def _post_from(port: int, source: str, headers: dict[str, str]) -> int:
    """``POST /shutdown`` from the loopback address ``source``."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0)
    )

    try:
        conn.request("POST", "/shutdown", headers=headers)
        rv = conn.getresponse()
        rv.read()
        return rv.status
    finally:
        conn.close()


def _loopback(i: int) -> str:
    """A different 127.0.0.0/8 address for each ``i``, never 127.0.0.1."""
    i += 2
    return f"127.{i // 62500 % 250}.{i // 250 % 250}.{i % 250 + 1}"


def test_locked_after_n_failures_a_valid_token_still_gets_in(
    make_app: AppFactory,
) -> None:
    stops: list[t.Any] = []
    app, _ = make_app(SHUTDOWN_STRATEGY=stops.append)
    client = app.test_client()
    assert app.config["SHUTDOWN_LOCKOUT_ATTEMPTS"] == 5
    assert app.config["SHUTDOWN_LOCKOUT_WINDOW"] == 60

    statuses = [_get(client, headers=WRONG).status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3

    rv = client.post("/shutdown", headers=WRONG)
    assert rv.status_code == 429
    assert rv.json["error"] == "too_many_attempts"
    assert "SHUTDOWN_LOCKOUT_ATTEMPTS" in rv.json["message"]
    assert "valid bearer token" in rv.json["message"]
    assert 1 <= int(rv.headers["Retry-After"]) <= 60
    # A password is a guessable credential: it waits, even a right one.
    assert _get(client, auth=(USER, PASSWORD)).status_code == 429
    assert app.extensions["shutdown"].coordinator.record is None
    # A token is compared before the lockout: its holder is not locked
    # out by someone else's failures on the same address.
    assert _get(client, headers=BEARER).status_code == 200
    assert client.post("/shutdown", headers=BEARER).status_code == 202
    assert len(stops) == 1


def test_wrong_tokens_beyond_the_limit_are_not_counted(make_app: AppFactory) -> None:
    app, _ = make_app()
    lockout = app.extensions["shutdown"].guard.lockout
    client = app.test_client()

    for _ in range(20):
        _get(client, headers=WRONG)

    assert lockout.count("loopback") == 5


def test_loopback_is_one_client(make_app: AppFactory) -> None:
    # Every local process can pick any 127.0.0.0/8 source address, and
    # ::1 is the same host.
    app, _ = make_app()
    client = app.test_client()
    addrs = ["127.0.0.1", "127.0.0.2", "127.9.9.9", "::1", "::ffff:127.0.0.7"]
    statuses = [_get(client, a, headers=WRONG).status_code for a in addrs * 2]
    assert statuses == [401] * 5 + [429] * 5


def test_shared_networks_are_configurable(make_app: AppFactory) -> None:
    app, _ = make_app(
        SHUTDOWN_ALLOWED_NETWORKS=["127.0.0.0/8", "10.0.0.0/8"],
        SHUTDOWN_LOCKOUT_SHARED_NETWORKS=["10.1.0.0/16"],
    )
    client = app.test_client()
    statuses = [
        _get(client, f"10.1.{i}.{i + 1}", headers=WRONG).status_code for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    # Outside the shared network, each address counts on its own, and
    # loopback addresses too, as the list no longer names them.
    assert _get(client, "10.2.0.1", headers=WRONG).status_code == 401
    assert _get(client, "127.0.0.1", headers=WRONG).status_code == 401
    assert _get(client, "127.0.0.2", headers=WRONG).status_code == 401
    assert app.config["SHUTDOWN_LOCKOUT_SHARED_NETWORKS"] == ["10.1.0.0/16"]


def test_global_budget(make_app: AppFactory) -> None:
    app, _ = make_app(
        SHUTDOWN_LOCKOUT_SHARED_NETWORKS=[], SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS=7
    )
    clock = FakeClock()
    app.extensions["shutdown"].guard.lockout.clock = clock
    client = app.test_client()
    statuses = [
        _get(client, _loopback(i), headers=WRONG).status_code for i in range(20)
    ]
    assert statuses == [401] * 7 + [429] * 13

    rv = _get(client, _loopback(100), auth=(USER, PASSWORD))
    assert rv.status_code == 429
    assert "on this server" in rv.json["message"]
    assert 1 <= int(rv.headers["Retry-After"]) <= 60
    # Tokens still work, from anywhere.
    assert _get(client, _loopback(101), headers=BEARER).status_code == 200

    clock.now += 61
    assert _get(client, _loopback(102), auth=(USER, PASSWORD)).status_code == 200
    assert _get(client, _loopback(103), headers=WRONG).status_code == 401


def test_global_budget_zero_turns_only_it_off(make_app: AppFactory) -> None:
    app, _ = make_app(
        SHUTDOWN_LOCKOUT_SHARED_NETWORKS=[], SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS=0
    )
    client = app.test_client()
    statuses = {
        _get(client, _loopback(i), headers=WRONG).status_code for i in range(40)
    }
    assert statuses == {401}
    # The limit per client still holds.
    assert [_get(client, headers=WRONG).status_code for _ in range(6)][-1] == 429


def test_counted_before_the_password_hash_runs(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = make_app()
    lockout = app.extensions["shutdown"].guard.lockout
    counted_at_hash: list[int] = []
    real = flask_shutdown.auth.check_password_hash

    def spy(stored: str, password: str) -> bool:
        counted_at_hash.append(lockout.count("loopback"))
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
    # only after the hash would let all of them in. (The hash cap is
    # raised so that this counts the lockout alone.)
    app, _ = make_app(SHUTDOWN_MAX_CONCURRENT_HASHES=20)
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
    app, _ = make_app(SHUTDOWN_MAX_CONCURRENT_HASHES=12)
    server = serve(app)
    barrier = threading.Barrier(12, timeout=10)

    def read(i: int) -> int:
        barrier.wait()
        return requests.get(
            f"{server.url}/shutdown/status", auth=(USER, PASSWORD), timeout=30
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        assert list(pool.map(read, range(12))) == [200] * 12


def test_concurrent_hashes_are_capped(
    make_app: AppFactory, serve: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first password check is held inside the hash; the others arrive
    # meanwhile and are refused at once, not queued, and not counted as
    # failures.
    app, _ = make_app(SHUTDOWN_MAX_CONCURRENT_HASHES=1, SHUTDOWN_LOCKOUT_ATTEMPTS=50)
    lockout = app.extensions["shutdown"].guard.lockout
    inside = threading.Event()
    release = threading.Event()
    real = flask_shutdown.auth.check_password_hash

    def held(stored: str, password: str) -> bool:
        inside.set()
        assert release.wait(30)
        return real(stored, password)

    monkeypatch.setattr(flask_shutdown.auth, "check_password_hash", held)
    server = serve(app)
    url = f"{server.url}/shutdown/status"

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(requests.get, url, auth=(USER, PASSWORD), timeout=30)
        assert inside.wait(30)
        refused = [
            requests.get(url, auth=(USER, f"guess-{i}"), timeout=30) for i in range(6)
        ]
        release.set()
        assert first.result().status_code == 200

    assert [rv.status_code for rv in refused] == [429] * 6
    assert {rv.json()["error"] for rv in refused} == {"too_many_concurrent"}
    assert {rv.headers["Retry-After"] for rv in refused} == {"1"}
    assert lockout.count("loopback") == 0
    # Tokens need no hash.
    assert requests.get(url, headers=BEARER, timeout=30).status_code == 200


def test_hashes_from_many_addresses_stay_under_the_cap(
    make_app: AppFactory, serve: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 30 concurrent Basic guesses, each from its own loopback address and
    # counted as its own client: at most two hashes (32 MiB each with
    # scrypt) ever run at once.
    app, _ = make_app(SHUTDOWN_LOCKOUT_SHARED_NETWORKS=[])
    running = 0
    peak = 0
    lock = threading.Lock()
    real = flask_shutdown.auth.check_password_hash

    def counting(stored: str, password: str) -> bool:
        nonlocal running, peak

        with lock:
            running += 1
            peak = max(peak, running)

        try:
            return real(stored, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(flask_shutdown.auth, "check_password_hash", counting)
    server = serve(app)
    n = 30
    barrier = threading.Barrier(n, timeout=10)
    guess = {"Authorization": "Basic b3BzOmd1ZXNz"}  # ops:guess

    def send(i: int) -> int:
        barrier.wait()
        return _post_from(server.port, _loopback(i), guess)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        statuses = list(pool.map(send, range(n)))

    assert set(statuses) <= {401, 429}
    assert 1 <= peak <= 2
    assert statuses.count(401) >= 1
    assert app.extensions["shutdown"].coordinator.record is None


def test_address_rotation_on_a_real_server(make_app: AppFactory, serve: t.Any) -> None:
    # The review's attack: one wrong token from each of many loopback
    # addresses. Loopback is one client: five reach a credential check.
    app, _ = make_app()
    server = serve(app)
    statuses = [_post_from(server.port, _loopback(i), WRONG) for i in range(200)]
    assert statuses == [401] * 5 + [429] * 195
    # The operator's token gets in on its first try.
    assert _post_from(server.port, "127.0.0.1", BEARER) == 202
    server.join(10)
    assert not server.is_alive()


def test_address_rotation_global_budget_on_a_real_server(
    make_app: AppFactory, serve: t.Any
) -> None:
    # Each loopback address counted on its own, as remote hosts are: the
    # global budget (20 by default) bounds the guesses.
    app, _ = make_app(SHUTDOWN_LOCKOUT_SHARED_NETWORKS=[])
    assert app.config["SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS"] == 20
    server = serve(app)
    statuses = [_post_from(server.port, _loopback(i), WRONG) for i in range(200)]
    assert statuses == [401] * 20 + [429] * 180
    assert _post_from(server.port, _loopback(500), BEARER) == 202


def test_a_full_store_never_unlocks_on_a_real_server(
    make_app: AppFactory, serve: t.Any
) -> None:
    # The review's second attack: one guess from each of many other
    # addresses used to evict a locked address from the bounded store.
    app, _ = make_app(
        SHUTDOWN_LOCKOUT_SHARED_NETWORKS=[], SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS=0
    )
    lockout = app.extensions["shutdown"].guard.lockout
    lockout.max_entries = 20
    server = serve(app)
    locked = "127.200.0.1"
    assert [_post_from(server.port, locked, WRONG) for _ in range(6)] == (
        [401] * 5 + [429]
    )
    flood = [_post_from(server.port, _loopback(i), WRONG) for i in range(100)]
    # 19 more fit; then the full store refuses new clients.
    assert flood == [401] * 19 + [429] * 81
    assert len(lockout) == 20
    assert [_post_from(server.port, locked, WRONG) for _ in range(5)] == [429] * 5


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
    rv = _get(client, auth=(USER, PASSWORD))
    assert rv.status_code == 429
    assert rv.headers["Retry-After"] == "50"
    clock.now += 49.6
    assert _get(client, auth=(USER, PASSWORD)).status_code == 200


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


def test_requests_without_credentials_are_not_counted(make_app: AppFactory) -> None:
    # They guess nothing; counting them would let any page or process on
    # the operator's address lock the operator's password out.
    app, _ = make_app()
    client = app.test_client()
    malformed = {"Authorization": "Basic !!!"}
    assert {_get(client).status_code for _ in range(10)} == {401}
    assert {_get(client, headers=malformed).status_code for _ in range(10)} == {401}
    assert _get(client, auth=(USER, PASSWORD)).status_code == 200
    assert len(app.extensions["shutdown"].guard.lockout) == 0


def test_ipv6_counted_per_64(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_ALLOWED_NETWORKS=["2001:db8::/32"])
    client = app.test_client()
    statuses = [
        _get(client, f"2001:db8::{i + 1}", headers=WRONG).status_code for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    assert _get(client, "2001:db8:0:1::1", auth=(USER, PASSWORD)).status_code == 200


def test_zero_attempts_turns_it_off(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_LOCKOUT_ATTEMPTS=0)
    client = app.test_client()
    assert {_get(client, headers=WRONG).status_code for _ in range(30)} == {401}


def test_store_is_bounded_when_addresses_rotate(make_app: AppFactory) -> None:
    app, _ = make_app(
        SHUTDOWN_LOCKOUT_SHARED_NETWORKS=[], SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS=0
    )
    lockout = app.extensions["shutdown"].guard.lockout
    lockout.max_entries = 50
    client = app.test_client()

    for i in range(300):
        _get(client, _loopback(i), headers=WRONG)
        assert len(lockout) <= 50


def test_lockout_never_forgets_a_lock_when_full() -> None:
    clock = FakeClock()
    lockout = Lockout(2, 60, max_entries=3, clock=clock)

    def fail(key: str) -> None:
        lockout.finish(lockout.reserve(key), failed=True)

    fail("b")
    clock.now += 30
    fail("a")
    fail("a")
    lockout.fail("c")

    # Full of clients with failures in the window: a new one is refused,
    # and the locked one stays locked.
    with pytest.raises(ShutdownRefused) as info:
        lockout.reserve("d")

    assert info.value.code == 429
    assert int(info.value.headers["Retry-After"]) == 30

    with pytest.raises(ShutdownRefused):
        lockout.fail("e")

    with pytest.raises(ShutdownRefused):
        lockout.reserve("a")

    # Once "b"'s failure has left the window, it makes room; "a" is still
    # locked.
    clock.now += 31
    lockout.finish(lockout.reserve("d"), failed=False)
    assert len(lockout) == 2

    with pytest.raises(ShutdownRefused):
        lockout.reserve("a")


def test_lockout_fail_counts_and_refuses() -> None:
    clock = FakeClock()
    lockout = Lockout(3, 10, global_attempts=5, clock=clock)

    for key in ("a", "a", "a"):
        lockout.fail(key)

    with pytest.raises(ShutdownRefused):
        lockout.fail("a")

    assert lockout.count("a") == 3
    lockout.fail("b")
    lockout.fail("c")

    # Five failures in all: the budget is used up for everyone.
    with pytest.raises(ShutdownRefused) as info:
        lockout.reserve("d")

    assert "on this server" in info.value.message
    clock.now += 11
    lockout.fail("d")


def test_success_entries_are_dropped() -> None:
    lockout = Lockout(5, 60)

    for i in range(100):
        attempt = lockout.reserve(f"k{i}")
        lockout.finish(attempt, failed=False)

    assert len(lockout) == 0
