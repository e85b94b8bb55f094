"""Checks made before any credential is looked at: the network allowlist,
the ``Host`` check, the cross-site check; and the lockout after repeated
failures.

The order matters. A request from outside ``SHUTDOWN_ALLOWED_NETWORKS``,
under a host name the app is not served under (DNS rebinding) or from a
web page of another site is refused before its credentials are read, and
a locked-out client is refused before its password is hashed, so none of
them can make the app do expensive work, learn anything about a secret,
or count towards the lockout of someone else.
"""

from __future__ import annotations

import bisect
import dataclasses
import ipaddress
import math
import os
import time
import typing as t
import uuid

from werkzeug.exceptions import HTTPException

from .addresses import client_key
from .addresses import normalize_origin
from .addresses import parse_address
from .refusals import ShutdownRefused
from .shared import LocalState
from .shared import process_alive
from .storage import StoreUnavailable

if t.TYPE_CHECKING:
    import collections.abc as cabc

    from flask import Request

    from .config import ShutdownConfig
    from .storage import RedisStore

#: How many clients the lockout remembers at most. When it is full,
#: clients whose failures have all left the window are forgotten; a client
#: with failures in the window is never forgotten, so that rotating through
#: addresses cannot unlock one. If it is still full, new clients are
#: refused until room frees up. (With the global budget on, at most that
#: many clients have failures in the window, so this is a backstop.)
MAX_TRACKED_ADDRESSES = 10_000

#: The lockout key of every loopback address in
#: ``SHUTDOWN_LOCKOUT_SHARED_NETWORKS``.
LOOPBACK_KEY = "loopback"

#: ``Sec-Fetch-Site`` values of requests that do not come from another
#: site's page: the page's own origin, or no page at all (typed in the
#: address bar, a bookmark).
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One authentication attempt, counted until :meth:`Lockout.finish`."""

    #: The client key it is counted under.
    key: str
    #: Whether it is counted; ``False`` when the lockout is off.
    counted: bool = True
    #: The reservation that counts it while its credentials are checked.
    id: str = ""


#: How long a reservation counts at most. Only a worker that died in the
#: middle of a check leaves one behind (on the same host, a dead worker's
#: reservations are dropped at once); a check that runs longer than this
#: still records its failure when it ends.
RESERVATION_TTL = 10.0


class Lockout:
    """Counts failed authentication attempts per client, and for all
    clients together, and refuses further attempts once there were too
    many within the last ``window`` seconds.

    Two kinds of check use it:

    Expensive or guessable credentials (a Basic password)
        :meth:`reserve` counts the attempt *before* its password is
        hashed, and :meth:`finish` records the outcome. Failures plus
        attempts being checked may never exceed the limits, so a burst of
        concurrent guesses cannot get past them while the slow hash of the
        first ones runs: at most ``attempts`` passwords are checked per
        client, and ``global_attempts`` in all, per window. When a limit is
        only reached because of attempts still being checked, a new one
        waits (up to ``wait_timeout`` seconds) for their outcome, so that
        concurrent valid requests are delayed a little, not refused.
    Cheap, constant-time credentials (bearer tokens)
        Are compared first, whatever the lockout says, so that the holder
        of a valid token always gets in, even when others on the same
        address have used up its attempts. A wrong one calls :meth:`fail`,
        which counts it, or refuses with ``429`` when a limit is reached.

    The counts live in ``state``: the process's own, or the file every
    worker of the server shares (:mod:`.shared`), where each method's
    read and write is one step under ``flock``. They are JSON there::

        {"c": {client key: [failure times, oldest first]},
         "a": [every client's failure times],
         "p": {reservation id: [client key, pid, expires at]}}

    Times come from ``clock``, :func:`time.monotonic` by default, which
    is one clock for every process of a host.

    :param attempts: ``SHUTDOWN_LOCKOUT_ATTEMPTS`` per client; ``0`` turns
        the lockout off.
    :param window: ``SHUTDOWN_LOCKOUT_WINDOW`` in seconds; ``0`` turns it
        off.
    :param global_attempts: ``SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS``, for all
        clients together; ``0`` turns this budget off.
    :param max_entries: How many clients are remembered at most.
    :param wait_timeout: How long an attempt waits for the ones being
        checked before it is refused.
    :param clock: Returns the time in seconds; monotonic by default.
    :param state: Where the counts are kept; this process by default.
    """

    def __init__(
        self,
        attempts: int,
        window: float,
        *,
        global_attempts: int = 0,
        max_entries: int = MAX_TRACKED_ADDRESSES,
        wait_timeout: float = 10.0,
        clock: cabc.Callable[[], float] = time.monotonic,
        state: LocalState | None = None,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.global_attempts = global_attempts
        self.max_entries = max_entries
        self.wait_timeout = wait_timeout
        self.clock = clock
        self.state = LocalState() if state is None else state

    @property
    def enabled(self) -> bool:
        return self.attempts > 0 and self.window > 0

    def __len__(self) -> int:
        """How many clients are remembered."""
        return self._update(lambda book: len(book.clients)) or 0

    def count(self, key: str) -> int:
        """How many attempts of ``key`` count now: failures in the window
        plus attempts being checked.
        """

        def change(book: _Book) -> int:
            failures = book.clients.get(key)

            if failures is None:
                return 0

            book.expire(failures)
            return len(failures) + book.pending_of(key)

        return self._update(change) or 0

    def reserve(self, key: str) -> Attempt:
        """Count an attempt of ``key`` before its credentials are checked.

        :returns: The counted :class:`Attempt`, to pass to :meth:`finish`.
        :raises ShutdownRefused: ``key``, or every client, is locked out
            (``429`` with ``Retry-After``); nothing is counted then.
        """
        if not self.enabled:
            return Attempt(key, counted=False)

        attempt = Attempt(key, id=uuid.uuid4().hex)

        def change(book: _Book) -> Attempt | None:
            failures = self._current(book, key)

            if not self._room(book, key, failures):
                # A limit is reached only with attempts still being
                # checked: their outcome decides this one's.
                return None

            if failures is None:
                self._add(book, key)

            book.pending[attempt.id] = [key, os.getpid(), book.now + RESERVATION_TTL]
            return attempt

        rv = self._update(change, wait_until=time.monotonic() + self.wait_timeout)

        if rv is None:
            raise _locked_out(1.0)

        return rv

    def fail(self, key: str) -> None:
        """Count a failed cheap check (a wrong token) of ``key``.

        :raises ShutdownRefused: ``key``, or every client, is locked out
            (``429`` with ``Retry-After``): answer that instead of the
            failure, so that failures beyond the limits tell nothing more.
        """
        if not self.enabled:
            return

        def change(book: _Book) -> bool:
            failures = self._current(book, key)

            if not self._room(book, key, failures):
                raise _locked_out(1.0)

            if failures is None:
                failures = self._add(book, key)

            failures.append(book.now)
            book.all.append(book.now)
            return True

        self._update(change)

    def finish(self, attempt: Attempt, *, failed: bool) -> None:
        """The credentials of ``attempt`` were checked. A failure stays
        counted for ``window`` seconds. A success counts no more, but
        earlier failures stay counted: valid but limited credentials (a
        token that may only read the status) cannot wipe the count between
        guesses.
        """
        if not attempt.counted:
            return

        key = attempt.key

        def change(book: _Book) -> bool:
            book.pending.pop(attempt.id, None)
            failures = book.clients.get(key)

            if failed:
                if failures is None:
                    # Its reservation outlived RESERVATION_TTL and the
                    # client was forgotten meanwhile: counted all the same.
                    failures = book.clients[key] = []

                failures.append(book.now)
                book.all.append(book.now)
            elif failures is not None and not failures and not book.pending_of(key):
                del book.clients[key]

            return True

        self._update(change)

    def _update(
        self,
        change: cabc.Callable[[_Book], _R | None],
        *,
        wait_until: float | None = None,
    ) -> _R | None:
        """Run ``change`` on the counts, atomically for every process that
        shares them, with expired failures and reservations dropped.
        """

        def run(doc: dict[str, t.Any]) -> _R | None:
            book = _Book(doc, self.clock(), self.window)
            return change(book)

        return self.state.update("lockout", run, wait_until=wait_until)

    def _current(self, book: _Book, key: str) -> list[float] | None:
        """The failures of ``key`` in the window, or ``None`` for a client
        not remembered.

        :raises ShutdownRefused: ``key``, or every client, has used up its
            failures.
        """
        now = book.now
        failures = book.clients.get(key)

        if failures is not None:
            book.expire(failures)

            if len(failures) >= self.attempts:
                raise _locked_out(failures[0] + self.window - now)

        if self.global_attempts > 0 and len(book.all) >= self.global_attempts:
            raise _locked_out(book.all[0] + self.window - now, everyone=True)

        return failures

    def _room(self, book: _Book, key: str, failures: list[float] | None) -> bool:
        """Whether one more attempt fits, counting those being checked."""
        if (
            failures is not None
            and len(failures) + book.pending_of(key) >= self.attempts
        ):
            return False

        return (
            self.global_attempts <= 0
            or len(book.all) + len(book.pending) < self.global_attempts
        )

    def _add(self, book: _Book, key: str) -> list[float]:
        clients = book.clients

        if len(clients) >= self.max_entries:
            # Forget clients with nothing left in the window; never one
            # with failures in it, which would unlock it.
            busy = {entry[0] for entry in book.pending.values()}

            for k in list(clients):
                book.expire(clients[k])

                if not clients[k] and k not in busy:
                    del clients[k]

        if len(clients) >= self.max_entries:
            # Room frees up when the newest failure of some client leaves
            # the window.
            soonest = min((f[-1] for f in clients.values() if f), default=book.now)
            raise _locked_out(soonest + self.window - book.now, everyone=True)

        failures: list[float] = []
        clients[key] = failures
        return failures


_R = t.TypeVar("_R")


class _Book:
    """The lockout's counts in a JSON document, with what has expired
    dropped: failures older than the window, reservations past their time
    or of a process that has exited.
    """

    __slots__ = ("all", "clients", "now", "pending", "window")

    def __init__(self, doc: dict[str, t.Any], now: float, window: float) -> None:
        self.now = now
        self.window = window

        if not _well_formed(doc, now):
            # Times of another clock (a file left from before a reboot
            # whose master pid came round again) would never expire, and
            # a mangled document must not fail requests: start afresh.
            doc.clear()

        self.clients: dict[str, list[float]] = doc.setdefault("c", {})
        self.all: list[float] = doc.setdefault("a", [])
        self.pending: dict[str, list[t.Any]] = doc.setdefault("p", {})
        self.expire(self.all)
        me = os.getpid()

        for rid, (_, pid, expires) in list(self.pending.items()):
            # A worker killed mid-check (gunicorn's timeout, OOM) never
            # finishes its attempt.
            if expires <= now or (pid != me and not process_alive(pid)):
                del self.pending[rid]

    def expire(self, failures: list[float]) -> None:
        """Drop the failures that have left the window, in place."""
        del failures[: bisect.bisect_right(failures, self.now - self.window)]

    def pending_of(self, key: str) -> int:
        return sum(1 for entry in self.pending.values() if entry[0] == key)


def _well_formed(doc: dict[str, t.Any], now: float) -> bool:
    """Whether ``doc`` holds the lockout's counts, in this clock."""
    clients = doc.get("c", {})
    all_ = doc.get("a", [])
    pending = doc.get("p", {})

    if not (
        isinstance(clients, dict)
        and isinstance(all_, list)
        and isinstance(pending, dict)
    ):
        return False

    if any(not isinstance(v, (int, float)) or v > now + 1 for v in all_[-1:]):
        return False

    return all(isinstance(f, list) for f in clients.values()) and all(
        isinstance(p, list)
        and len(p) == 3
        and isinstance(p[1], int)
        and isinstance(p[2], (int, float))
        for p in pending.values()
    )


class StoredLockout(Lockout):
    """The lockout with its counts in the fleet's Redis
    (``SHUTDOWN_STORAGE_URI``): the same rules, each step one atomic
    script in Redis, timed by Redis's clock so that the hosts' clocks do
    not matter. A store that does not answer refuses the attempt with
    ``503`` (no credential is checked without it), and the next attempt
    tries again.

    :param store: The fleet's store.
    """

    #: How often an attempt waiting for the outcome of others asks again.
    poll_interval = 0.02

    def __init__(
        self,
        store: RedisStore,
        attempts: int,
        window: float,
        *,
        global_attempts: int = 0,
        max_entries: int = MAX_TRACKED_ADDRESSES,
        wait_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            attempts,
            window,
            global_attempts=global_attempts,
            max_entries=max_entries,
            wait_timeout=wait_timeout,
        )
        self.store = store

    def __len__(self) -> int:
        return self._call(lambda: self.store.lockout_clients())

    def count(self, key: str) -> int:
        return self._call(lambda: self.store.lockout_count(key, self.window))

    def reserve(self, key: str) -> Attempt:
        if not self.enabled:
            return Attempt(key, counted=False)

        attempt = Attempt(key, id=uuid.uuid4().hex)
        deadline = time.monotonic() + self.wait_timeout

        while True:
            if self._try(attempt, "reserve"):
                return attempt

            if time.monotonic() >= deadline:
                raise _locked_out(1.0)

            time.sleep(self.poll_interval)

    def fail(self, key: str) -> None:
        if self.enabled and not self._try(Attempt(key, id=uuid.uuid4().hex), "fail"):
            raise _locked_out(1.0)

    def finish(self, attempt: Attempt, *, failed: bool) -> None:
        if not attempt.counted:
            return

        try:
            self.store.lockout_finish(attempt.key, attempt.id, failed, self.window)
        except StoreUnavailable as e:
            # A success needs nothing more: the reservation expires by
            # itself. A failure that cannot be counted is not answered
            # as one.
            if failed:
                raise e.refusal() from None

    def _try(self, attempt: Attempt, mode: str) -> bool:
        """One step in Redis: ``True`` when counted, ``False`` when a limit
        is reached only by attempts still being checked.
        """
        outcome, seconds = self._call(
            lambda: self.store.lockout_step(
                attempt.key,
                attempt.id,
                mode,
                attempts=self.attempts,
                window=self.window,
                global_attempts=self.global_attempts,
                max_entries=self.max_entries,
                ttl=RESERVATION_TTL,
            )
        )

        if outcome == "ok":
            return True

        if outcome == "wait":
            return False

        raise _locked_out(seconds, everyone=outcome != "client")

    @staticmethod
    def _call(step: cabc.Callable[[], _R]) -> _R:
        try:
            return step()
        except StoreUnavailable as e:
            raise e.refusal() from None


class Guard:
    """Refuses requests from outside ``SHUTDOWN_ALLOWED_NETWORKS`` and
    browser requests from other sites, and keeps the :class:`Lockout`.

    :param config: The app's resolved config.
    :param lockout: The lockout; by default one of this process's own.
    """

    def __init__(self, config: ShutdownConfig, lockout: Lockout | None = None) -> None:
        self.config = config
        self.lockout = (
            Lockout(
                config.lockout_attempts,
                config.lockout_window,
                global_attempts=config.lockout_global_attempts,
            )
            if lockout is None
            else lockout
        )
        #: Already normalized by the config.
        self._trusted_origins = frozenset(config.trusted_origins)
        self._trusted_hosts = config.trusted_hosts or ()
        # DNS rebinding needs a host name: any address may be used as the
        # Host once clients from other hosts are allowed at all.
        self._any_address = not all(
            network.is_loopback for network in config.allowed_networks
        )

    def check_network(self, request: Request) -> None:
        """Refuse a client outside ``SHUTDOWN_ALLOWED_NETWORKS``.

        :raises ShutdownRefused: ``403 forbidden_network``.
        """
        if not self._allowed(request.remote_addr):
            raise ShutdownRefused(
                "forbidden_network",
                "Requests from this address may not use the shutdown endpoint."
                " Add its network to SHUTDOWN_ALLOWED_NETWORKS to allow it.",
            )

    def check_host(self, request: Request) -> None:
        """Refuse a ``Host`` the endpoint is not served under.

        A page under the attacker's own name whose DNS answer is switched
        to ``127.0.0.1`` (DNS rebinding) is same-origin for the browser:
        it passes the cross-site check and reaches a loopback-only
        endpoint from the operator's machine. Its requests carry its own
        name in ``Host``. Accepted: loopback names (``localhost``) and
        addresses; any address when ``SHUTDOWN_ALLOWED_NETWORKS`` admits
        other hosts; the names in ``SHUTDOWN_TRUSTED_HOSTS`` (or Flask's
        ``TRUSTED_HOSTS``). A request without ``Host`` (HTTP/1.0) is not
        from a browser and passes.

        :raises ShutdownRefused: ``400 untrusted_host``.
        """
        host = request.environ.get("HTTP_HOST")

        if host is None or self._host_allowed(_host_name(host)):
            return

        raise ShutdownRefused(
            "untrusted_host",
            "The Host header names a host this endpoint is not served under."
            " Use a loopback address or add the name to SHUTDOWN_TRUSTED_HOSTS.",
        )

    def check_cross_site(self, request: Request) -> None:
        """Refuse a request sent by a web page of another site.

        A browser sends ``Origin`` with every cross-site ``POST`` and
        ``Sec-Fetch-Site`` with every request; it also sends cached Basic
        credentials along, so a page on any site could otherwise make the
        browser of a logged-in operator stop the server. Clients that are
        not browsers (curl, scripts, orchestrators) send neither header.

        :raises ShutdownRefused: ``403 cross_site``.
        """
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")

        if origin is not None:
            normalized = normalize_origin(origin)

            if normalized is not None and normalized in self._trusted_origins:
                # A trusted admin page on another host: its requests say
                # "same-site" or "cross-site", which is what
                # SHUTDOWN_TRUSTED_ORIGINS is for.
                return

            if normalized is None or normalized != self._request_origin(request):
                raise _cross_site_error()

        if (
            fetch_site is not None
            and fetch_site.strip().lower() not in _SAME_SITE_FETCH
        ):
            raise _cross_site_error()

    def client_key(self, request: Request) -> str:
        """The key the lockout counts this client's attempts under: its
        network, when it is in one of ``SHUTDOWN_LOCKOUT_SHARED_NETWORKS``
        (by default loopback: every local process can pick any
        127.0.0.0/8 source address; loopback networks share the key
        :data:`LOOPBACK_KEY`); otherwise its address, or its /64 for IPv6.
        """
        address = parse_address(request.remote_addr)

        if address is None:
            # Not reached: the network check refuses such requests first.
            return str(request.remote_addr)

        for network in self.config.lockout_shared_networks:
            if address in network:
                # 127.0.0.0/8 and ::1 are the same host.
                return LOOPBACK_KEY if network.is_loopback else str(network)

        return client_key(address)

    def _host_allowed(self, name: str | None) -> bool:
        if name is None:
            return False

        if name == "localhost" or name.endswith(".localhost"):
            return True

        try:
            address = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            pass
        else:
            if address.is_loopback or self._any_address:
                return True

        return any(
            name == ref
            or (ref.startswith(".") and (name.endswith(ref) or name == ref[1:]))
            for ref in self._trusted_hosts
        )

    def _allowed(self, remote_addr: str | None) -> bool:
        address = parse_address(remote_addr)

        if address is None:
            return False

        return any(address in network for network in self.config.allowed_networks)

    @staticmethod
    def _request_origin(request: Request) -> str | None:
        try:
            return normalize_origin(f"{request.scheme}://{request.host}")
        except HTTPException:
            # A Host header outside TRUSTED_HOSTS matches no origin.
            return None


def _host_name(host: str) -> str | None:
    """The host of a ``Host`` header, lower case, without the port and a
    trailing dot; IPv6 addresses keep their brackets. ``None`` when it is
    malformed.
    """
    host = host.strip().lower()

    if host.startswith("["):
        end = host.find("]") + 1
        name, rest = host[:end], host[end:]
        port = rest[1:] if rest.startswith(":") else rest
        ok = end > 0 and (not rest or rest.startswith(":"))
    else:
        name, sep, port = host.partition(":")
        ok = not sep or bool(port)

    if not ok or not name or not (port == "" or (port.isascii() and port.isdigit())):
        return None

    return name.rstrip(".")


def _locked_out(retry_after: float, *, everyone: bool = False) -> ShutdownRefused:
    seconds = max(1, math.ceil(retry_after))
    who = "on this server" if everyone else "from this client"
    return ShutdownRefused.retry_after(
        "too_many_attempts",
        f"Too many failed attempts {who}. Try again in {seconds} s; a valid"
        " bearer token is accepted meanwhile. SHUTDOWN_LOCKOUT_ATTEMPTS,"
        " SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS and SHUTDOWN_LOCKOUT_WINDOW set the"
        " limits.",
        seconds,
    )


def _cross_site_error() -> ShutdownRefused:
    return ShutdownRefused(
        "cross_site",
        "The shutdown endpoint does not accept requests sent by web pages of"
        " other sites. Call it from a server-side client, or add the page's"
        " origin to SHUTDOWN_TRUSTED_ORIGINS.",
    )
