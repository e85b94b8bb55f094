"""DNS rebinding, and the operator on a shared address.

A page under the attacker's own name, rebound to 127.0.0.1, is same-origin
for the browser: it passed the cross-site check, and each of its requests
without credentials counted towards the lockout of 127.0.0.1, so that the
operator's valid token got 429 for as long as the page stayed open. The
``Host`` check refuses such requests before anything is counted, and a
valid token is accepted whatever others on the address did.
"""

from __future__ import annotations

import base64
import http.client
import socket
import subprocess
import typing as t
from pathlib import Path

import pytest

from ._proc import Proc
from ._servers import tool
from ._servers import wait_ready
from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _rebinding_page(host: str) -> dict[str, str]:
    """What a browser sends for a page of ``host`` that POSTs text/plain
    to itself without credentials.
    """
    return {
        "Host": host,
        "Origin": f"http://{host}",
        "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Mode": "cors",
        "Content-Type": "text/plain;charset=UTF-8",
    }


def _post(port: int, headers: dict[str, str], body: bytes = b"") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    try:
        # skip_host: the Host header is the one given.
        conn.putrequest("POST", "/shutdown", skip_host="Host" in headers)

        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(name, value)

        conn.endheaders(body)
        rv = conn.getresponse()
        rv.read()
        return rv.status
    finally:
        conn.close()


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:5000",
        "LOCALHOST.",
        "admin.localhost:8080",
        "127.0.0.1",
        "127.0.0.1:5000",
        "127.3.2.1:80",
        "[::1]",
        "[::1]:5000",
    ],
)
def test_loopback_hosts_pass(make_app: AppFactory, host: str) -> None:
    app, _ = make_app()
    rv = app.test_client().get("/shutdown/status", headers={**BEARER, "Host": host})
    assert rv.status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:5000",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "10.0.0.1:5000",
        "[2001:db8::1]",
        "localhost:abc",
        "[::1",
        "",
    ],
)
def test_other_hosts_are_refused_before_anything_counts(
    make_app: AppFactory, host: str
) -> None:
    stops: list[t.Any] = []
    app, _ = make_app(SHUTDOWN_STRATEGY=stops.append)
    client = app.test_client()

    for headers in ({}, BEARER, {"Authorization": "Bearer wrong-0123456789abc"}):
        rv = client.post("/shutdown", headers={**headers, "Host": host})
        assert rv.status_code == 400
        assert rv.json["error"] == "untrusted_host"
        assert "SHUTDOWN_TRUSTED_HOSTS" in rv.json["message"]

    assert len(app.extensions["shutdown"].guard.lockout) == 0
    assert stops == []


def test_trusted_hosts(make_app: AppFactory) -> None:
    app, _ = make_app(SHUTDOWN_TRUSTED_HOSTS=["app.example.com", ".internal"])
    client = app.test_client()

    def status(host: str) -> int:
        return client.get(
            "/shutdown/status", headers={**BEARER, "Host": host}
        ).status_code

    assert status("app.example.com:443") == 200
    assert status("APP.example.com") == 200
    assert status("svc.internal") == 200
    assert status("internal") == 200
    assert status("localhost") == 200
    assert status("other.example.com") == 400
    assert status("app.example.com.evil") == 400


def test_any_address_when_other_hosts_are_allowed(make_app: AppFactory) -> None:
    # DNS rebinding needs a name: addresses pass once the allowlist admits
    # other hosts; names still need listing.
    app, _ = make_app(SHUTDOWN_ALLOWED_NETWORKS=["127.0.0.0/8", "10.0.0.0/8"])
    client = app.test_client()

    def status(host: str) -> int:
        return client.get(
            "/shutdown/status", headers={**BEARER, "Host": host}
        ).status_code

    assert status("10.1.2.3:8000") == 200
    assert status("[2001:db8::1]:80") == 200
    assert status("app.internal") == 400


def test_flask_trusted_hosts_are_used(make_app: AppFactory) -> None:
    app, _ = make_app(TRUSTED_HOSTS=["app.example.com", "localhost"])
    assert app.extensions["shutdown"].config.trusted_hosts == (
        "app.example.com",
        "localhost",
    )
    client = app.test_client()
    rv = client.get("/shutdown/status", headers={**BEARER, "Host": "app.example.com"})
    assert rv.status_code == 200
    # Flask refuses other names itself, before the view.
    rv = client.post("/shutdown", headers={"Host": "evil.example"})
    assert rv.status_code == 400
    assert len(app.extensions["shutdown"].guard.lockout) == 0


@pytest.mark.parametrize(
    "value", [5, ["ok.example", 5], ["bad host"], ["a/b"], ["user@host"]]
)
def test_malformed_trusted_hosts_are_refused(
    make_app: AppFactory, value: t.Any
) -> None:
    with pytest.raises(RuntimeError, match="SHUTDOWN_TRUSTED_HOSTS"):
        make_app(SHUTDOWN_TRUSTED_HOSTS=value)


def test_rebinding_page_on_a_real_server(make_app: AppFactory, serve: t.Any) -> None:
    # The review's scenario: the page sends requests from 127.0.0.1 with
    # its own name in Host; then the operator sends the valid token.
    app, _ = make_app()
    server = serve(app)
    page = _rebinding_page(f"evil.example:{server.port}")
    assert [_post(server.port, page, b"x") for _ in range(25)] == [400] * 25
    assert len(app.extensions["shutdown"].guard.lockout) == 0
    assert _post(server.port, BEARER) == 202
    server.join(10)
    assert not server.is_alive()


def test_failures_on_the_operators_address_on_a_real_server(
    make_app: AppFactory, serve: t.Any
) -> None:
    # The second defence, with the Host check out of the way (the name is
    # listed): another client on 127.0.0.1 sends wrong tokens and no
    # credentials. The operator's password waits; its token does not.
    app, _ = make_app(SHUTDOWN_TRUSTED_HOSTS=["evil.example"])
    server = serve(app)
    page = _rebinding_page(f"evil.example:{server.port}")
    wrong = {**page, "Authorization": "Bearer wrong-0123456789abcdef"}
    assert [_post(server.port, page) for _ in range(10)] == [401] * 10
    assert [_post(server.port, wrong) for _ in range(10)] == [401] * 5 + [429] * 5
    basic = {
        "Authorization": "Basic "
        + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    }
    assert _post(server.port, basic) == 429
    assert _post(server.port, BEARER) == 202


NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            # What many configs do: pass the client's Host on.
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


def _start_nginx(tmp_path: Path, upstream: int) -> tuple[Proc, int]:
    nginx = tool("nginx")

    for attempt in range(3):
        conf_dir = tmp_path / f"nginx{attempt}"
        conf_dir.mkdir()

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])

        conf = conf_dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=conf_dir, port=port, upstream=upstream))
        args = [nginx, "-p", str(conf_dir), "-c", str(conf), "-e", "stderr"]
        check = subprocess.run(
            [*args, "-t"], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        proc = Proc([*args, "-g", "daemon off;"], conf_dir / "nginx.log")

        try:
            wait_ready(proc, f"http://127.0.0.1:{port}/", timeout=15)
        except AssertionError:
            proc.kill()

            if "Address already in use" in proc.output():
                continue

            raise

        return proc, port

    raise AssertionError("nginx could not bind a free port in 3 attempts.")


def test_rebinding_page_through_nginx(
    make_app: AppFactory, serve: t.Any, tmp_path: Path
) -> None:
    app, _ = make_app()
    server = serve(app)
    nginx, port = _start_nginx(tmp_path, server.port)

    try:
        page = _rebinding_page(f"evil.example:{port}")
        assert [_post(port, page, b"x") for _ in range(25)] == [400] * 25
        assert len(app.extensions["shutdown"].guard.lockout) == 0
        # The operator through the same nginx, by its address.
        assert _post(port, {**BEARER, "Host": f"127.0.0.1:{port}"}) == 202
        server.join(10)
        assert not server.is_alive()
    finally:
        nginx.kill()
