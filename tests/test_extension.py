"""The init_app contract: state in app.extensions, config read once,
clear errors on misuse, one extension object serving several apps.
"""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from flask_shutdown import Shutdown
from flask_shutdown.state import AppState
from flask_shutdown.state import get_state

from .conftest import AppFactory
from .conftest import PASSWORD_HASH
from .conftest import TOKEN


def test_state_lives_in_app_extensions(make_app: AppFactory) -> None:
    app, shutdown = make_app()
    state = app.extensions["shutdown"]
    assert isinstance(state, AppState)
    assert state.extension is shutdown
    assert not hasattr(shutdown, "app")
    assert get_state(app) is state


def test_factory_pattern() -> None:
    shutdown = Shutdown()
    app = Flask(__name__)
    app.config["SHUTDOWN_TOKENS"] = [TOKEN]
    shutdown.init_app(app)
    client = app.test_client()
    rv = client.post("/shutdown", headers={"Authorization": f"Bearer {TOKEN}"})
    assert rv.status_code == 202


def test_registering_twice_is_an_error(make_app: AppFactory) -> None:
    app, shutdown = make_app()

    with pytest.raises(RuntimeError, match="already been registered"):
        shutdown.init_app(app)

    with pytest.raises(RuntimeError, match="already been registered"):
        Shutdown(app)


def test_one_extension_serves_several_apps() -> None:
    shutdown = Shutdown()
    apps = []

    for path in ("/stop-a", "/stop-b"):
        app = Flask(__name__)
        app.config.update(SHUTDOWN_TOKENS=[TOKEN], SHUTDOWN_PATH=path)
        shutdown.init_app(app)
        apps.append(app)

    a, b = apps
    assert a.extensions["shutdown"] is not b.extensions["shutdown"]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert a.test_client().post("/stop-b", headers=headers).status_code == 404
    assert a.test_client().post("/stop-a", headers=headers).status_code == 202
    # The first app's shutdown did not touch the second.
    assert b.extensions["shutdown"].coordinator.record is None
    assert a.extensions["shutdown"].coordinator.record is not None


def test_defaults_are_written_to_config(make_app: AppFactory) -> None:
    app, _ = make_app()
    assert app.config["SHUTDOWN_PATH"] == "/shutdown"
    assert app.config["SHUTDOWN_DRAIN_TIMEOUT"] == 30.0
    assert app.config["SHUTDOWN_ALLOWED_NETWORKS"] == ["127.0.0.0/8", "::1/128"]


def test_config_is_read_once(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_PATH="/bye")
    app.config["SHUTDOWN_PATH"] = "/changed-later"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert app.test_client().post("/changed-later", headers=headers).status_code == 404
    assert app.test_client().post("/bye", headers=headers).status_code == 202


def test_constructor_arguments_are_defaults_config_wins() -> None:
    app = Flask(__name__)
    app.config.update(SHUTDOWN_TOKENS=[TOKEN], SHUTDOWN_DRAIN_TIMEOUT=7)
    Shutdown(app, drain_timeout=3, path="/halt")
    state = get_state(app)
    assert state.config.drain_timeout == 7
    assert state.config.path == "/halt"


def test_no_credentials_not_exposed_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask("bare")

    with caplog.at_level(logging.WARNING, logger="flask_shutdown"):
        Shutdown(app)

    assert "SHUTDOWN_TOKENS" in caplog.text
    assert "not exposed" in caplog.text
    client = app.test_client()
    assert client.post("/shutdown").status_code == 404
    assert client.get("/shutdown/status").status_code == 404
    # Readiness needs no credential and stays available.
    assert client.get("/shutdown/ready").status_code == 200


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"SHUTDOWN_TOKENS": "one-string-token"}, "not a single", id="str"),
        pytest.param({"SHUTDOWN_TOKENS": ["short"]}, "shorter than", id="short"),
        pytest.param(
            {"SHUTDOWN_USERS": {"ops": "plain"}}, "not a Werkzeug", id="plain"
        ),
        pytest.param({"SHUTDOWN_PATH": "shutdown"}, "starts with '/'", id="path"),
        pytest.param({"SHUTDOWN_DRAIN_TIMEOUT": -1}, "zero or more", id="negative"),
        pytest.param(
            {"SHUTDOWN_STRATEGY": "bogus"}, "Unknown SHUTDOWN_STRATEGY", id="strat"
        ),
        pytest.param({"SHUTDOWN_ROLES": {"x": ["admin"]}}, "unknown role", id="roles"),
        pytest.param({"SHUTDOWN_ALLOWED_NETWORKS": ["nope"]}, "CIDR", id="nets"),
        pytest.param({"SHUTDOWN_SIGNED_TOKENS": True}, "SECRET_KEY", id="nokey"),
        pytest.param(
            {"SHUTDOWN_SIGNED_TOKENS": True, "SECRET_KEY": "dev"},
            "placeholder",
            id="dev",
        ),
    ],
)
def test_bad_config_is_a_clear_error(config: dict[str, object], message: str) -> None:
    app = Flask(__name__)
    app.config.update(SHUTDOWN_USERS={"ops": PASSWORD_HASH})
    app.config.update(config)

    with pytest.raises(RuntimeError, match=message):
        Shutdown(app)

    assert "shutdown" not in app.extensions


def test_trigger_and_status_need_registration() -> None:
    shutdown = Shutdown()
    app = Flask(__name__)

    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        shutdown.status()

    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        shutdown.create_token()

    with pytest.raises(RuntimeError, match="init_app"):
        get_state(app)


def test_create_token_needs_signed_tokens(make_app: AppFactory) -> None:
    app, shutdown = make_app()

    with app.app_context(), pytest.raises(RuntimeError, match="SHUTDOWN_SIGNED_TOKENS"):
        shutdown.create_token()


def test_teardown_decorator_bare_and_with_arguments(make_app: AppFactory) -> None:
    _, shutdown = make_app()

    @shutdown.teardown
    def first() -> None:
        pass

    @shutdown.teardown(timeout=2)
    def second() -> None:
        pass

    assert [h.func for h in shutdown.hooks] == [first, second]
    assert [h.timeout for h in shutdown.hooks] == [None, 2]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param({"SHUTDOWN_TOKENS": 5}, "list of secrets", id="tokens-int"),
        pytest.param({"SHUTDOWN_TOKENS": [""]}, "non-empty string", id="tokens-empty"),
        pytest.param({"SHUTDOWN_USERS": ["ops"]}, "must be a dict", id="users-list"),
        pytest.param(
            {"SHUTDOWN_ROLES": ["ops"]}, "principal -> roles", id="roles-list"
        ),
        pytest.param({"SHUTDOWN_HOOK_TIMEOUT": True}, "zero or more", id="bool"),
        pytest.param({"SHUTDOWN_READY_PATH": "/"}, "starts with '/'", id="ready-root"),
        pytest.param(
            {"SHUTDOWN_STRATEGY": "signal:SIGNOPE"}, "unknown signal", id="sig"
        ),
    ],
)
def test_more_bad_config(config: dict[str, object], message: str) -> None:
    app = Flask(__name__)
    app.config.update(SHUTDOWN_USERS={"ops": PASSWORD_HASH})
    app.config.update(config)

    with pytest.raises(RuntimeError, match=message):
        Shutdown(app)


def test_named_tokens_roles_and_single_network() -> None:
    app = Flask(__name__)
    app.config.update(
        SHUTDOWN_TOKENS={"deploy": TOKEN},
        SHUTDOWN_ROLES={"token:deploy": "status"},
        SHUTDOWN_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    Shutdown(app)
    config = get_state(app).config
    assert config.tokens == {"deploy": TOKEN}
    assert config.roles == {"token:deploy": frozenset({"status"})}
    assert [str(n) for n in config.allowed_networks] == ["127.0.0.1/32"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # May read the status, may not stop the server.
    assert client.get("/shutdown/status", headers=headers).status_code == 200
    refused = client.post("/shutdown", headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "forbidden"
    assert get_state(app).coordinator.record is None
