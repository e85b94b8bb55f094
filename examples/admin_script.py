"""Stop a server from Python with requests: ask for the shutdown, then
poll the status until the server is gone.

Try it (requests must be installed: ``pip install requests``), with the
token app of ``token_app.py`` running::

    export SHUTDOWN_TOKEN=...             # the token the app was started with
    python examples/admin_script.py http://127.0.0.1:5000 --reason "deploy"

For a Basic user, set ``SHUTDOWN_USER`` and ``SHUTDOWN_PASSWORD`` instead.
It prints each phase as it changes and exits with 0 once the server is
gone, 3 if the credentials were refused, 4 if nothing answered, and 5 if
the server was still up after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import os
import time

import requests


def stop(
    base_url: str, auth: requests.auth.AuthBase, reason: str, timeout: float
) -> int:
    try:
        rv = requests.post(
            f"{base_url}/shutdown", json={"reason": reason}, auth=auth, timeout=10
        )
    except requests.ConnectionError as e:
        print(f"unreachable: {e}")
        return 4

    if rv.status_code != 202:
        print(f"refused: {rv.status_code} {rv.json().get('message')}")
        return 3

    print(f"accepted: shutdown {rv.json()['shutdown_id']}")
    deadline = time.monotonic() + timeout
    phase = None

    while time.monotonic() < deadline:
        try:
            status = requests.get(
                f"{base_url}/shutdown/status", auth=auth, timeout=5
            ).json()
        except requests.ConnectionError:
            # The server closed its socket: it is gone.
            print("stopped")
            return 0

        if status["phase"] != phase:
            phase = status["phase"]
            print(f"{phase}: {status['in_flight']} request(s) in flight")

        time.sleep(0.1)

    print(f"timed out after {timeout} s")
    return 5


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="The base URL, such as http://127.0.0.1:5000.")
    parser.add_argument("--reason", default="admin script")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    auth: requests.auth.AuthBase

    # Credentials come from the environment, never from the command line.
    if "SHUTDOWN_TOKEN" in os.environ:
        auth = BearerAuth(os.environ["SHUTDOWN_TOKEN"])
    else:
        auth = requests.auth.HTTPBasicAuth(
            os.environ["SHUTDOWN_USER"], os.environ["SHUTDOWN_PASSWORD"]
        )

    return stop(args.url.rstrip("/"), auth, args.reason, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
