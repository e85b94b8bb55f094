"""examples/kubernetes.yaml agrees with the extension: the probe and the
preStop hook use its endpoints, the grace period covers the drain, and the
preStop command really stops a server.
"""

from __future__ import annotations

import os
import subprocess
import typing as t

import pytest
import yaml

from flask_shutdown.config import DEFAULTS

from ._proc import ROOT
from .conftest import AppFactory
from .conftest import TOKEN

MANIFEST = ROOT / "examples" / "kubernetes.yaml"


@pytest.fixture(scope="module")
def container() -> dict[str, t.Any]:
    deployment = yaml.safe_load(MANIFEST.read_text())
    assert deployment["kind"] == "Deployment"
    pod = deployment["spec"]["template"]["spec"]
    (web,) = pod["containers"]
    web["_grace"] = pod["terminationGracePeriodSeconds"]
    return web  # type: ignore[no-any-return]


def env(container: dict[str, t.Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_settings_are_real_config_keys(container: dict[str, t.Any]) -> None:
    # app.config.from_prefixed_env() drops the FLASK_ prefix.
    for name in env(container):
        assert name.startswith("FLASK_"), name
        assert name.removeprefix("FLASK_") in DEFAULTS, name


def test_probe_and_grace_period(container: dict[str, t.Any]) -> None:
    port = container["ports"][0]["containerPort"]
    probe = container["readinessProbe"]["httpGet"]
    # Readiness follows SHUTDOWN_PATH by default.
    assert probe["path"] == DEFAULTS["SHUTDOWN_PATH"] + "/ready"
    assert probe["port"] == port
    settings = env(container)
    delay = float(settings["FLASK_SHUTDOWN_DRAIN_DELAY"])
    drain = float(settings["FLASK_SHUTDOWN_DRAIN_TIMEOUT"])
    # Kubernetes kills the pod when the grace period ends: the drain delay,
    # the drain and the default hook time must fit in it.
    assert container["_grace"] >= delay + drain + DEFAULTS["SHUTDOWN_HOOK_TIMEOUT"]


def test_prestop_command_stops_a_server(
    container: dict[str, t.Any], make_app: AppFactory, serve: t.Any
) -> None:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    port = container["ports"][0]["containerPort"]
    script = command[2]
    assert f"http://127.0.0.1:{port}/shutdown" in script
    app, _ = make_app()
    server = serve(app)
    # The same command against this test's server, without the wait.
    script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{server.port}")
    script = script.replace("&& sleep 40", "")
    assert "sleep" not in script
    done = subprocess.run(
        ["sh", "-c", script],
        env={**os.environ, "SHUTDOWN_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    server.join(10)
    assert not server.is_alive()
    assert app.extensions["shutdown"].status()["requested_by"] == "token:0"
