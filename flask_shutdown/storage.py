"""Where the security state lives: the record of used signed tokens and
the counts of failed attempts.

``SHUTDOWN_STORAGE_URI`` chooses, in the style of Flask-Limiter's storage
URIs:

``memory://`` (the default)
    One server's state: shared by the worker processes of a gunicorn or
    uWSGI server through its state file (:mod:`.shared`), else kept by the
    process.
``redis://host:port/db``, ``rediss://...``, ``unix:///path.sock``
    One state for a fleet: every instance that names the same Redis
    shares it, and it outlives restarts. Needs the ``redis`` extra
    (``pip install Flask-Shutdown[redis]``), which installs redis-py.

redis-py is used directly rather than through the ``limits`` storage
layer Flask-Limiter is built on: ``limits`` counts hits against rate
limits, but a used token needs an atomic "set if absent, until it
expires", and a failed guess must be counted only once it has failed,
both one Redis command each here.

A store that cannot be reached raises :class:`StoreUnavailable`; the
endpoint then answers ``503`` with ``Retry-After`` and checks no
credential, so that an outage never lets guesses through unlimited.
Every Redis call has a short timeout, and the next request tries again,
so the endpoint recovers by itself when Redis is back.
"""

from __future__ import annotations

import logging
import time
import typing as t
import uuid

logger = logging.getLogger(__name__)

#: Seconds a Redis command may take before the store counts as down.
REDIS_TIMEOUT = 0.5

#: Prefix of every key written to Redis.
KEY_PREFIX = "flask-shutdown:"


class StoreUnavailable(Exception):
    """The configured store did not answer. The message names it, without
    its password.
    """


class RedisStore:
    """Security state in Redis, shared by every instance that uses it.

    :param uri: A ``redis://``, ``rediss://`` or ``unix://`` URI.
    :param namespace: Keeps the keys of different apps apart.
    :raises RuntimeError: redis-py is not installed.
    """

    def __init__(self, uri: str, namespace: str) -> None:
        try:
            import redis
        except ImportError:
            raise RuntimeError(
                f"SHUTDOWN_STORAGE_URI is {_safe(uri)!r}, which needs redis-py."
                " Install it with 'pip install Flask-Shutdown[redis]'."
            ) from None

        self.uri = uri
        self.prefix = f"{KEY_PREFIX}{namespace}:"
        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(
            uri,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry_on_timeout=False,
        )
        self._down = False

    def use_once(self, token_id: str, expires_at: float) -> bool:
        """Mark a signed token used, fleet-wide; ``False`` if it was used
        before. The key expires with the token.

        :raises StoreUnavailable: Redis did not answer.
        """
        ttl = max(int(expires_at - time.time()) + 1, 1)
        return bool(
            self._call(
                lambda c: c.set(f"{self.prefix}used:{token_id}", 1, nx=True, ex=ttl)
            )
        )

    def add_failure(self, key: str, window: float) -> int:
        """Count a failed attempt of ``key``; returns the failures of
        ``key`` within the last ``window`` seconds, this one included.

        :raises StoreUnavailable: Redis did not answer.
        """
        now = time.time()
        name = f"{self.prefix}fail:{key}"

        def run(c: t.Any) -> int:
            pipe = c.pipeline(transaction=True)
            pipe.zadd(name, {f"{now}:{uuid.uuid4().hex[:8]}": now})
            pipe.zremrangebyscore(name, "-inf", now - window)
            pipe.zcard(name)
            pipe.expire(name, max(int(window) + 1, 1))
            return int(pipe.execute()[2])

        return int(self._call(run))

    def failures(self, key: str, window: float) -> int:
        """The failures of ``key`` within the last ``window`` seconds.

        :raises StoreUnavailable: Redis did not answer.
        """
        name = f"{self.prefix}fail:{key}"
        since = time.time() - window
        return int(self._call(lambda c: c.zcount(name, since, "+inf")))

    def oldest_failure(self, key: str, window: float) -> float | None:
        """When the oldest failure of ``key`` still in the window happened.

        :raises StoreUnavailable: Redis did not answer.
        """
        name = f"{self.prefix}fail:{key}"
        since = time.time() - window
        rv = self._call(
            lambda c: c.zrangebyscore(
                name, since, "+inf", start=0, num=1, withscores=True
            )
        )
        return float(rv[0][1]) if rv else None

    def _call(self, command: t.Callable[[t.Any], t.Any]) -> t.Any:
        try:
            rv = command(self._client)
        except self._errors as e:
            if not self._down:
                self._down = True
                logger.error(
                    "The shutdown store %s does not answer (%s); credential"
                    " checks answer 503 until it does.",
                    _safe(self.uri),
                    type(e).__name__,
                )

            raise StoreUnavailable(
                f"the store {_safe(self.uri)} does not answer"
            ) from None

        if self._down:
            self._down = False
            logger.warning("The shutdown store %s answers again.", _safe(self.uri))

        return rv


def _safe(uri: str) -> str:
    """``uri`` without a password."""
    scheme, sep, rest = uri.partition("://")

    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]

    return f"{scheme}{sep}{rest}"
