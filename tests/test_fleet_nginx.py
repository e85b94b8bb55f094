"""Three instances behind a real nginx, under a steady, bounded load:
removing one with POST /shutdown costs no failed client request. The
instance keeps serving through its drain delay, then answers 503 and
closes its socket; nginx passes both on to the next instance.
"""

from __future__ import annotations

import concurrent.futures
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests

from ._proc import Proc
from ._proc import ROOT
from ._servers import APP_MODULE
from ._servers import assert_hooks_once
from ._servers import post_shutdown
from ._servers import tool
from ._servers import wait_ready

CLIENTS = 4
#: Each client stops after this many requests, whatever happens.
MAX_REQUESTS = 400

NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    upstream app {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


def free_port() -> int:
    # nginx cannot bind port 0 and report it; pick one, and retry the
    # start if another program took it in between.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nginx(tmp_path: Path, upstreams: list[str]) -> tuple[Proc, str]:
    nginx = tool("nginx")
    servers = "\n".join(
        f"        server {u.removeprefix('http://')} max_fails=1 fail_timeout=30s;"
        for u in upstreams
    )

    for attempt in range(3):
        conf_dir = tmp_path / f"nginx{attempt}"
        (conf_dir / "tmp").mkdir(parents=True)
        port = free_port()
        conf = conf_dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=conf_dir, servers=servers, port=port))
        args = [nginx, "-p", str(conf_dir), "-c", str(conf), "-e", "stderr"]
        check = subprocess.run(
            [*args, "-t"], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        proc = Proc([*args, "-g", "daemon off;"], conf_dir / "nginx.log")
        url = f"http://127.0.0.1:{port}"

        try:
            wait_ready(proc, f"{url}/pid", timeout=15)
        except AssertionError:
            proc.kill()

            if "Address already in use" in proc.output():
                continue

            raise

        return proc, url

    raise AssertionError("nginx could not bind a free port in 3 attempts.")


def test_remove_one_instance_without_failed_requests(tmp_path: Path) -> None:
    instances: list[Proc] = []
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    env = {"HOOK_LOG": str(hook_log), "SHUTDOWN_DRAIN_DELAY": "0.5"}
    nginx = None

    try:
        for i in range(3):
            args = [tool("waitress-serve"), "--listen=127.0.0.1:0"]
            log = tmp_path / f"instance{i}.log"
            instances.append(Proc([*args, f"{APP_MODULE}:app"], log, env=env, cwd=ROOT))

        upstreams = [
            p.wait_for_output(r"Serving on (http://127\.0\.0\.1:\d+)").group(1)
            for p in instances
        ]
        pids = [int(requests.get(f"{u}/pid", timeout=10).text) for u in upstreams]
        nginx, url = start_nginx(tmp_path, upstreams)
        removed = instances[0]
        stop = threading.Event()
        served: list[int] = []
        failures: list[str] = []

        def client() -> None:
            with requests.Session() as session:
                for _ in range(MAX_REQUESTS):
                    if stop.is_set():
                        return

                    try:
                        rv = session.get(f"{url}/pid?s=0.02", timeout=30)
                    except requests.RequestException as e:
                        failures.append(repr(e))
                        continue

                    if rv.status_code == 200:
                        served.append(int(rv.text))
                    else:
                        failures.append(f"{rv.status_code} {rv.text[:200]}")

        with concurrent.futures.ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            clients = [pool.submit(client) for _ in range(CLIENTS)]
            deadline = time.monotonic() + 60

            while served.count(pids[0]) < 10 and time.monotonic() < deadline:
                time.sleep(0.02)

            assert post_shutdown(upstreams[0], "curl") == 202
            assert removed.wait_exit(60) == 0
            after = len(served)

            while len(served) < after + 50 and time.monotonic() < deadline:
                time.sleep(0.02)

            stop.set()

            for future in clients:
                future.result()

        assert failures == []
        assert len(served) >= after + 50
        # All three served, and only the other two once it had gone.
        assert set(served[:after]) >= set(pids)
        assert pids[0] not in served[after + CLIENTS :]
        assert removed.wait_group_gone()
        assert_hooks_once(hook_log, {pids[0]})
    finally:
        for proc in instances:
            proc.kill()

        if nginx is not None:
            nginx.kill()


def test_example_config_is_valid(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    conf = ROOT / "examples" / "nginx.conf"
    args = [tool("nginx"), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"]
    check = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
