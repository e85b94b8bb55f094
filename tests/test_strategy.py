"""SHUTDOWN_STRATEGY: the fallback for a server no adapter recognises (a
signal to the own process, with a warning naming the key), choosing the
signal, passing a callable, and refusing what cannot work.
"""

from __future__ import annotations

import signal
import typing as t
from pathlib import Path

import pytest
import requests

from flask_shutdown import ServerThread
from flask_shutdown import ShutdownRecord

from ._proc import Proc
from ._proc import PYTHON
from ._proc import ROOT
from ._servers import APPS
from ._servers import assert_hooks_once
from ._servers import count
from ._servers import post_shutdown
from ._servers import wait_ready
from .conftest import AppFactory
from .conftest import TOKEN

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("strategy", "client"), [(None, "curl"), ("signal:SIGINT", "basic")]
)
def test_unknown_server_falls_back_to_a_signal(
    tmp_path: Path, strategy: str | None, client: str
) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    env = {"HOOK_LOG": str(hook_log), "PYTHONPATH": str(ROOT)}

    if strategy is not None:
        env["SHUTDOWN_STRATEGY"] = strategy

    with Proc(
        [PYTHON, str(APPS / "wsgiref_app.py")], tmp_path / "server.log", env=env
    ) as proc:
        url = proc.wait_for_output(r"Serving on (http://\S+)").group(1)
        wait_ready(proc, f"{url}/pid")
        assert post_shutdown(url, client) == 202
        code = proc.wait_exit(30)
        assert proc.wait_group_gone()

    assert_hooks_once(hook_log, {proc.pid})

    if strategy is None:
        # Stopped, not left running: SIGTERM with its default action.
        assert code == -signal.SIGTERM
        assert "No server adapter recognises this server" in proc.output()
        assert "Set SHUTDOWN_STRATEGY" in proc.output()
    else:
        assert code == 0
        assert count(hook_log, "interrupted") == {proc.pid: 1}
        assert "No server adapter" not in proc.output()


def test_callable_strategy(make_app: AppFactory, serve: t.Any) -> None:
    stopped: list[ShutdownRecord] = []
    servers: list[ServerThread] = []

    def stop(record: ShutdownRecord) -> None:
        stopped.append(record)
        servers[0].stop_serving()

    app, _ = make_app(SHUTDOWN_STRATEGY=stop)
    servers.append(serve(app))
    rv = requests.post(f"{servers[0].url}/shutdown", headers=BEARER, timeout=10)
    assert rv.status_code == 202
    servers[0].join(10)
    assert not servers[0].is_alive()
    assert [r.server for r in stopped] == ["callable"]


@pytest.mark.parametrize(
    "name", ["werkzeug-legacy", "werkzeug", "gunicorn", "waitress", "uwsgi"]
)
def test_named_adapter_that_does_not_apply(
    make_app: AppFactory, serve: t.Any, name: str
) -> None:
    app, _ = make_app(SHUTDOWN_STRATEGY=name)
    server = serve(app)
    rv = requests.post(f"{server.url}/shutdown", headers=BEARER, timeout=10)
    assert rv.status_code == 501
    assert rv.json()["error"] == "strategy_unavailable"
    assert "SHUTDOWN_STRATEGY" in rv.json()["message"]
    # Still serving.
    assert requests.get(server.url, timeout=10).text == "ok"


def test_unknown_strategy_name(make_app: AppFactory) -> None:
    with pytest.raises(RuntimeError, match="Unknown SHUTDOWN_STRATEGY 'nginx'"):
        make_app(SHUTDOWN_STRATEGY="nginx")
