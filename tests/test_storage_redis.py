"""The fleet-wide store: a real Redis server of the test's own, on a
loopback port. A signed token stops at most one instance of a fleet, and
a Redis that stops answering is refused closed, then recovered from.
"""

from __future__ import annotations

import collections.abc as cabc
import concurrent.futures
import time
import typing as t
from pathlib import Path

import pytest
import requests
from flask import Flask
from werkzeug.security import generate_password_hash

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown
from flask_shutdown.storage import RedisStore
from flask_shutdown.storage import StoreUnavailable
from flask_shutdown.tokens import TokenSigner

from ._proc import free_port
from ._proc import Redis
from .conftest import PASSWORD
from .conftest import SECRET_KEY
from .conftest import TOKEN
from .conftest import USER


@pytest.fixture
def redis_server(tmp_path: Path) -> cabc.Iterator[Redis]:
    server = Redis(tmp_path)
    server.start()
    yield server
    server.stop()


def fleet_app(uri: str, **config: t.Any) -> tuple[Flask, Shutdown]:
    # One import name and path: the instances of one service.
    app = Flask("fleet")
    app.config.update(
        SECRET_KEY=SECRET_KEY,
        SHUTDOWN_SIGNED_TOKENS=True,
        SHUTDOWN_TOKENS=[TOKEN],
        SHUTDOWN_USERS={USER: generate_password_hash(PASSWORD)},
        SHUTDOWN_STORAGE_URI=uri,
        **config,
    )
    app.get("/")(lambda: "ok")
    return app, Shutdown(app)


def test_store_basics(redis_server: Redis) -> None:
    store = RedisStore(redis_server.uri, "unit")
    expires = time.time() + 60
    assert store.use_once("a", expires)
    assert not store.use_once("a", expires)
    assert RedisStore(redis_server.uri, "other").use_once("a", expires)
    assert [store.add_failure("10.0.0.1", 60) for _ in range(3)] == [1, 2, 3]
    assert store.failures("10.0.0.1", 60) == 3
    assert store.failures("10.0.0.2", 60) == 0
    assert store.oldest_failure("10.0.0.1", 60) is not None


def test_one_token_stops_one_instance_of_three(redis_server: Redis) -> None:
    servers = []

    for _ in range(3):
        app, _ = fleet_app(redis_server.uri)
        server = ServerThread(app, port=0)
        server.start()
        servers.append(server)

    token = TokenSigner([SECRET_KEY]).create(60, ["shutdown"])

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            answers = list(
                pool.map(
                    lambda s: requests.post(
                        f"{s.url}/shutdown",
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=10,
                    ),
                    servers,
                )
            )

        assert sorted(rv.status_code for rv in answers) == [202, 401, 401]
        assert {rv.json()["error"] for rv in answers if rv.status_code == 401} == {
            "token_used"
        }

        # Restarting an instance does not make the token usable again.
        stopped = next(
            s for s, rv in zip(servers, answers, strict=False) if rv.status_code == 202
        )
        assert stopped.wait_stopped(10)
        app, _ = fleet_app(redis_server.uri)
        again = ServerThread(app, port=0)
        again.start()
        servers.append(again)
        rv = requests.post(
            f"{again.url}/shutdown",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert rv.status_code == 401
        assert rv.json()["error"] == "token_used"
    finally:
        for server in servers:
            server.stop_serving()


def test_redis_outage_fails_closed_and_recovers(
    redis_server: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = fleet_app(redis_server.uri)
    server = ServerThread(app, port=0)
    server.start()
    signer = TokenSigner([SECRET_KEY])

    try:
        redis_server.stop()
        token = signer.create(60, ["shutdown"])
        rv = requests.post(
            f"{server.url}/shutdown",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert rv.status_code == 503
        assert rv.json()["error"] == "store_unavailable"
        assert rv.headers["Retry-After"] == "1"
        # Nothing started; the app and readiness are unaffected.
        assert requests.get(f"{server.url}/", timeout=10).text == "ok"
        assert (
            requests.get(f"{server.url}/shutdown/ready", timeout=10).status_code == 200
        )
        assert "does not answer" in caplog.text
        assert "redis://127.0.0.1" in caplog.text

        # Redis is back on the same port: the same token now works.
        redis_server.start()
        rv = requests.post(
            f"{server.url}/shutdown",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert rv.status_code == 202
        assert "answers again" in caplog.text
        assert server.wait_stopped(10)
    finally:
        server.stop_serving()


def test_password_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    store = RedisStore(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0", "x")

    with pytest.raises(StoreUnavailable) as info:
        store.use_once("a", time.time() + 60)

    assert "s3cret-pw" not in str(info.value)
    assert "s3cret-pw" not in caplog.text
    assert "***@127.0.0.1" in caplog.text


def test_unknown_scheme_is_refused_at_init() -> None:
    app = Flask("x")
    app.config.update(SHUTDOWN_TOKENS=[TOKEN], SHUTDOWN_STORAGE_URI="postgres://db")

    with pytest.raises(RuntimeError, match="SHUTDOWN_STORAGE_URI"):
        Shutdown(app)
