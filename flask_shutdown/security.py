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

import collections
import dataclasses
import ipaddress
import math
import threading
import time
import typing as t

from werkzeug.exceptions import HTTPException

from .addresses import client_key
from .addresses import normalize_origin
from .addresses import parse_address
from .refusals import ShutdownRefused

if t.TYPE_CHECKING:
    import collections.abc as cabc

    from flask import Request

    from .config import ShutdownConfig

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


class _Entry:
    __slots__ = ("failures", "pending")

    def __init__(self) -> None:
        #: Times of the failed attempts still in the window, oldest first.
        self.failures: collections.deque[float] = collections.deque()
        #: Attempts whose credentials are being checked right now.
        self.pending = 0


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

    The state (the ``_entries`` dict and the global entry) is only touched
    in these methods, under one lock.

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
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.global_attempts = global_attempts
        self.max_entries = max_entries
        self.wait_timeout = wait_timeout
        self.clock = clock
        # Client key -> its entry.
        self._entries: dict[str, _Entry] = {}
        # Every client's failures and pending attempts, together.
        self._all = _Entry()
        self._cond = threading.Condition()

    @property
    def enabled(self) -> bool:
        return self.attempts > 0 and self.window > 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._entries)

    def count(self, key: str) -> int:
        """How many attempts of ``key`` count now: failures in the window
        plus attempts being checked.
        """
        with self._cond:
            entry = self._entries.get(key)

            if entry is None:
                return 0

            self._expire(entry, self.clock())
            return len(entry.failures) + entry.pending

    def reserve(self, key: str) -> Attempt:
        """Count an attempt of ``key`` before its credentials are checked.

        :returns: The counted :class:`Attempt`, to pass to :meth:`finish`.
        :raises ShutdownRefused: ``key``, or every client, is locked out
            (``429`` with ``Retry-After``); nothing is counted then.
        """
        if not self.enabled:
            return Attempt(key, counted=False)

        deadline = time.monotonic() + self.wait_timeout

        with self._cond:
            while True:
                now = self.clock()
                entry = self._current(key, now)

                if self._room(entry):
                    if entry is None:
                        entry = self._add(key, now)

                    entry.pending += 1
                    self._all.pending += 1
                    return Attempt(key)

                # A limit is reached only with attempts still being
                # checked: their outcome decides this one's.
                remaining = deadline - time.monotonic()

                if remaining <= 0:
                    raise _locked_out(1.0)

                self._cond.wait(remaining)

    def fail(self, key: str) -> None:
        """Count a failed cheap check (a wrong token) of ``key``.

        :raises ShutdownRefused: ``key``, or every client, is locked out
            (``429`` with ``Retry-After``): answer that instead of the
            failure, so that failures beyond the limits tell nothing more.
        """
        if not self.enabled:
            return

        with self._cond:
            now = self.clock()
            entry = self._current(key, now)

            if not self._room(entry):
                raise _locked_out(1.0)

            if entry is None:
                entry = self._add(key, now)

            entry.failures.append(now)
            self._all.failures.append(now)

    def finish(self, attempt: Attempt, *, failed: bool) -> None:
        """The credentials of ``attempt`` were checked. A failure stays
        counted for ``window`` seconds. A success counts no more, but
        earlier failures stay counted: valid but limited credentials (a
        token that may only read the status) cannot wipe the count between
        guesses.
        """
        if not attempt.counted:
            return

        with self._cond:
            # Never missing: an entry with attempts pending is never dropped.
            entry = self._entries[attempt.key]
            entry.pending -= 1
            self._all.pending -= 1

            if failed:
                now = self.clock()
                entry.failures.append(now)
                self._all.failures.append(now)
            elif not entry.failures and not entry.pending:
                del self._entries[attempt.key]

            self._cond.notify_all()

    def _current(self, key: str, now: float) -> _Entry | None:
        """The entry of ``key`` with expired failures dropped.

        :raises ShutdownRefused: ``key``, or every client, has used up its
            failures.
        """
        self._expire(self._all, now)
        entry = self._entries.get(key)

        if entry is not None:
            self._expire(entry, now)

            if len(entry.failures) >= self.attempts:
                raise _locked_out(entry.failures[0] + self.window - now)

        if self.global_attempts > 0 and len(self._all.failures) >= self.global_attempts:
            raise _locked_out(self._all.failures[0] + self.window - now, everyone=True)

        return entry

    def _room(self, entry: _Entry | None) -> bool:
        """Whether one more attempt fits, counting those being checked."""
        if entry is not None and len(entry.failures) + entry.pending >= self.attempts:
            return False

        all_ = self._all
        return self.global_attempts <= 0 or (
            len(all_.failures) + all_.pending < self.global_attempts
        )

    def _add(self, key: str, now: float) -> _Entry:
        if len(self._entries) >= self.max_entries:
            # Forget clients with nothing left in the window; never one
            # with failures in it, which would unlock it.
            for k in list(self._entries):
                entry = self._entries[k]
                self._expire(entry, now)

                if not entry.failures and not entry.pending:
                    del self._entries[k]

        if len(self._entries) >= self.max_entries:
            # Room frees up when the newest failure of some client leaves
            # the window.
            soonest = min(
                (e.failures[-1] for e in self._entries.values() if e.failures),
                default=now,
            )
            raise _locked_out(soonest + self.window - now, everyone=True)

        entry = self._entries[key] = _Entry()
        return entry

    def _expire(self, entry: _Entry, now: float) -> None:
        failures = entry.failures

        while failures and failures[0] <= now - self.window:
            failures.popleft()


class Guard:
    """Refuses requests from outside ``SHUTDOWN_ALLOWED_NETWORKS`` and
    browser requests from other sites, and keeps the :class:`Lockout`.

    :param config: The app's resolved config.
    """

    def __init__(self, config: ShutdownConfig) -> None:
        self.config = config
        self.lockout = Lockout(
            config.lockout_attempts,
            config.lockout_window,
            global_attempts=config.lockout_global_attempts,
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
