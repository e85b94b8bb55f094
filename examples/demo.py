"""The demo: start examples/demo_app.py as a server process, refuse a
request without credentials, stop the server with an authenticated
``POST /shutdown`` while a slow request is still running, and show the
slow request finishing, the teardown hooks running and the exit code.

Run it with ``scripts/demo.sh`` (which installs what it needs), or with
``python examples/demo.py`` in an environment that has Flask-Shutdown
and requests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
TOKEN = "demo-token-change-me-0123456789"


def say(text: str) -> None:
    print(f"\n--- {text}", flush=True)


def main() -> int:
    env = {**os.environ, "PORT": "0", "DEMO_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    say("starting examples/demo_app.py on a free port")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "demo_app.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = None
    output: list[str] = []
    deadline = time.monotonic() + 30

    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()

        if not line:
            break

        output.append(line)
        match = re.search(r"Serving on (http://\S+)", line)

        if match:
            url = match.group(1)

    if url is None:
        proc.kill()
        print("".join(output))
        print("the demo app did not start", file=sys.stderr)
        return 1

    # Print the server's own output as it comes.
    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"    {line}", end="", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    print(f"    server is up at {url}")

    try:
        say("GET / answers")
        print("    " + requests.get(url, timeout=5).text.strip())

        say("POST /shutdown without credentials is refused, and nothing stops")
        rv = requests.post(f"{url}/shutdown", timeout=5)
        print(f"    {rv.status_code} {rv.json()}")
        print(f"    WWW-Authenticate: {rv.headers['WWW-Authenticate']}")

        say("a slow request (1 s) starts, then POST /shutdown with a bearer token")
        slow: dict[str, requests.Response] = {}
        worker = threading.Thread(
            target=lambda: slow.update(rv=requests.get(f"{url}/report", timeout=10))
        )
        worker.start()
        time.sleep(0.2)
        rv = requests.post(
            f"{url}/shutdown",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"reason": "demo"},
            timeout=5,
        )
        print(f"    {rv.status_code} {rv.json()}")
        worker.join(10)
        done = slow["rv"]
        print(f"    the slow request got: {done.status_code} {done.text.strip()!r}")

        code = proc.wait(timeout=20)
        reader.join(5)
        say(f"the server process exited with code {code}")
        return 0 if code == 0 else 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    raise SystemExit(main())
