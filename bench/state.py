"""Client-side measurements of the state the workers of one server share
(``SHUTDOWN_SHARED_STATE``): how many wrong guesses reach a credential
check, and how concurrent shutdown requests converge.

Both take the URL of a server that is already running, so that a row can
start it with ``SHUTDOWN_SHARED_STATE`` on or off and call them the same
way. Every request has a timeout and every loop a bound; nothing here
asserts a timing.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import time

import requests

#: A bearer token that is wrong for every app of the project.
WRONG_TOKEN = "wrong-token-0123456789abcdef"

#: One connection per request, so that the kernel hands consecutive
#: requests to different workers of a pre-fork server.
CLOSE = {"Connection": "close"}


def wrong_guesses(
    url: str,
    n: int = 40,
    *,
    concurrency: int = 8,
    path: str = "/shutdown",
    timeout: float = 30.0,
) -> collections.Counter[int]:
    """Send ``n`` ``POST`` requests with a wrong bearer token,
    ``concurrency`` at a time, each on a new connection, and count the
    answers by status. ``401`` answers are the guesses that reached the
    credential check; ``429`` the ones the lockout refused.

    :param url: The server's base URL, without the endpoint path.
    """
    headers = {"Authorization": f"Bearer {WRONG_TOKEN}", **CLOSE}

    def guess(_: int) -> int:
        try:
            return requests.post(
                f"{url}{path}", headers=headers, timeout=timeout
            ).status_code
        except requests.RequestException:
            return 0

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        return collections.Counter(pool.map(guess, range(n)))


@dataclasses.dataclass
class Converged:
    """What :func:`concurrent_shutdowns` saw."""

    #: Status code of each answer; ``0`` for a connection reset or a
    #: timeout.
    statuses: list[int]
    #: The distinct ``shutdown_id`` values of the ``202`` answers.
    ids: set[str]
    #: Seconds from the common start to each answer.
    times: list[float]

    @property
    def slowest(self) -> float:
        return max(self.times, default=0.0)


def concurrent_shutdowns(
    url: str,
    token: str | None = None,
    n: int = 8,
    *,
    auth: tuple[str, str] | None = None,
    timeout: float = 30.0,
) -> Converged:
    """Send ``n`` valid ``POST /shutdown`` at once, each on a new
    connection, and report the answers, the shutdown ids and how long each
    took.

    :param token: A bearer token; or give ``auth``.
    :param auth: A Basic user name and password.
    """
    headers = dict(CLOSE)

    if token is not None:
        headers["Authorization"] = f"Bearer {token}"

    start = time.perf_counter()

    def post(_: int) -> tuple[int, str | None, float]:
        try:
            rv = requests.post(
                f"{url}/shutdown", headers=headers, auth=auth, timeout=timeout
            )
        except requests.RequestException:
            return 0, None, time.perf_counter() - start

        took = time.perf_counter() - start
        shutdown_id = rv.json().get("shutdown_id") if rv.status_code == 202 else None
        return rv.status_code, shutdown_id, took

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        answers = list(pool.map(post, range(n)))

    return Converged(
        statuses=[a[0] for a in answers],
        ids={a[1] for a in answers if a[1] is not None},
        times=[a[2] for a in answers],
    )
