"""Checks made before any credential is looked at: the network allowlist,
the cross-site check, and the lockout after repeated failures.

The order matters. A request from outside ``SHUTDOWN_ALLOWED_NETWORKS``
or from a web page of another site is refused before its credentials are
read, and a locked-out address is refused before its password is hashed,
so none of them can make the app do expensive work or learn anything
about a secret.
"""

from __future__ import annotations

import collections
import dataclasses
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

#: How many addresses the lockout remembers at most. When it is full,
#: addresses whose attempts have all left the window are forgotten first,
#: then the least recently seen one, so an attacker rotating through
#: addresses cannot make it grow without limit.
MAX_TRACKED_ADDRESSES = 10_000

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
    """Counts failed authentication attempts per client and refuses a
    client that made ``attempts`` of them within the last ``window``
    seconds.

    An attempt counts from the moment it is :meth:`reserve`-d, before its
    credentials are checked: failures plus attempts being checked may
    never exceed ``attempts``. A burst of concurrent guesses therefore
    cannot get past the limit while the slow password hash of the first
    ones runs; at most ``attempts`` credentials are ever checked per client
    per window. When the limit is only reached because of attempts still
    being checked, a new attempt waits (up to ``wait_timeout`` seconds)
    until they are done, so many concurrent valid requests from one client
    are delayed a little, not refused.

    :param attempts: ``SHUTDOWN_LOCKOUT_ATTEMPTS``; ``0`` turns it off.
    :param window: ``SHUTDOWN_LOCKOUT_WINDOW`` in seconds; ``0`` turns it
        off.
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
        max_entries: int = MAX_TRACKED_ADDRESSES,
        wait_timeout: float = 10.0,
        clock: cabc.Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.max_entries = max_entries
        self.wait_timeout = wait_timeout
        self.clock = clock
        # Client key -> its entry; least recently seen client first.
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
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
        :raises ShutdownRefused: ``key`` is locked out (``429`` with
            ``Retry-After``); nothing is counted then.
        """
        if not self.enabled:
            return Attempt(key, counted=False)

        deadline = time.monotonic() + self.wait_timeout

        with self._cond:
            while True:
                now = self.clock()
                entry = self._entries.get(key)

                if entry is None:
                    self._make_room(now)
                    entry = self._entries[key] = _Entry()
                else:
                    self._entries.move_to_end(key)
                    self._expire(entry, now)

                failures = len(entry.failures)

                if failures >= self.attempts:
                    raise _locked_out(entry.failures[0] + self.window - now)

                if failures + entry.pending < self.attempts:
                    entry.pending += 1
                    return Attempt(key)

                # The limit is reached only with attempts still being
                # checked: their outcome decides this one's.
                remaining = deadline - time.monotonic()

                if remaining <= 0:
                    raise _locked_out(1.0)

                self._cond.wait(remaining)

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
            entry = self._entries.get(attempt.key)

            if entry is None:
                # Forgotten while full; a failure is remembered again.
                if not failed:
                    return

                self._make_room(self.clock())
                entry = self._entries[attempt.key] = _Entry()
            else:
                entry.pending = max(entry.pending - 1, 0)

            if failed:
                entry.failures.append(self.clock())
            elif not entry.failures and not entry.pending:
                del self._entries[attempt.key]

            self._cond.notify_all()

    def _expire(self, entry: _Entry, now: float) -> None:
        failures = entry.failures

        while failures and failures[0] <= now - self.window:
            failures.popleft()

    def _make_room(self, now: float) -> None:
        if len(self._entries) < self.max_entries:
            return

        # Forget clients with nothing left in the window; the least
        # recently seen are at the front.
        for key in list(self._entries):
            entry = self._entries[key]
            self._expire(entry, now)

            if entry.failures or entry.pending:
                break

            del self._entries[key]

        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)


class Guard:
    """Refuses requests from outside ``SHUTDOWN_ALLOWED_NETWORKS`` and
    browser requests from other sites, and keeps the :class:`Lockout`.

    :param config: The app's resolved config.
    """

    def __init__(self, config: ShutdownConfig) -> None:
        self.config = config
        self.lockout = Lockout(config.lockout_attempts, config.lockout_window)
        #: Already normalized by the config.
        self._trusted_origins = frozenset(config.trusted_origins)

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
        """The key the lockout counts this client's attempts under."""
        address = parse_address(request.remote_addr)

        if address is None:
            # Not reached: the network check refuses such requests first.
            return str(request.remote_addr)

        return client_key(address)

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


def _locked_out(retry_after: float) -> ShutdownRefused:
    seconds = max(1, math.ceil(retry_after))
    return ShutdownRefused.retry_after(
        "too_many_attempts",
        "Too many failed attempts from this address. Try again in"
        f" {seconds} s. SHUTDOWN_LOCKOUT_ATTEMPTS and SHUTDOWN_LOCKOUT_WINDOW"
        " set the limit.",
        seconds,
    )


def _cross_site_error() -> ShutdownRefused:
    return ShutdownRefused(
        "cross_site",
        "The shutdown endpoint does not accept requests sent by web pages of"
        " other sites. Call it from a server-side client, or add the page's"
        " origin to SHUTDOWN_TRUSTED_ORIGINS.",
    )
