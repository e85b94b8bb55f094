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
expires", and the lockout needs to reserve an attempt against two
limits at once (the client's and everyone's, counting attempts still
being checked), then turn the reservation into a failure or drop it once
the password has been checked. Each of those is one Redis command or one
short Lua script here.

A store that cannot be reached raises :class:`StoreUnavailable`; the
endpoint then answers ``503`` with ``Retry-After`` and checks no
credential, so that an outage never lets guesses through unlimited.
Every Redis call has a short timeout, and the next request tries again,
so the endpoint recovers by itself when Redis is back.
"""

from __future__ import annotations

import json
import logging
import time
import typing as t
import uuid

from .refusals import ShutdownRefused

logger = logging.getLogger(__name__)

#: Seconds a Redis command may take before the store counts as down.
REDIS_TIMEOUT = 0.5

#: Prefix of every key written to Redis.
KEY_PREFIX = "flask-shutdown:"


class StoreUnavailable(Exception):
    """The configured store did not answer. The message names it, without
    its password.
    """

    def refusal(self) -> ShutdownRefused:
        """The ``503`` answered while the store does not: no credential
        is checked without it.
        """
        return ShutdownRefused.retry_after(
            "store_unavailable",
            f"The shutdown endpoint cannot check credentials right now: {self}."
            " Try again shortly.",
            1,
        )


# The lockout's counts, one script per step so that each is atomic for
# the whole fleet. Times come from Redis (TIME), not from the hosts. Keys:
# f: a client's failures, p: its reservations (scored by expiry), a: every
# failure, ap: every reservation, c: the clients remembered, scored by
# when they may be forgotten. Numbers go back as strings: Lua numbers
# would be cut to integers.
_LOCKOUT_STEP = """
local f, pk, a, ap, c = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key, rid, mode = ARGV[1], ARGV[2], ARGV[3]
local attempts, window = tonumber(ARGV[4]), tonumber(ARGV[5])
local global, maxn, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', f, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', a, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', pk, '-inf', now)
redis.call('ZREMRANGEBYSCORE', ap, '-inf', now)
local nf = redis.call('ZCARD', f)
if nf >= attempts then
  local old = redis.call('ZRANGE', f, 0, 0, 'WITHSCORES')
  return {'client', tostring(tonumber(old[2]) + window - now)}
end
local na = redis.call('ZCARD', a)
if global > 0 and na >= global then
  local old = redis.call('ZRANGE', a, 0, 0, 'WITHSCORES')
  return {'everyone', tostring(tonumber(old[2]) + window - now)}
end
if nf + redis.call('ZCARD', pk) >= attempts
    or (global > 0 and na + redis.call('ZCARD', ap) >= global) then
  if mode == 'reserve' then
    return {'wait', '1'}
  end
  return {'client', '1'}
end
redis.call('ZREMRANGEBYSCORE', c, '-inf', now)
if not redis.call('ZSCORE', c, key) and redis.call('ZCARD', c) >= maxn then
  local old = redis.call('ZRANGE', c, 0, 0, 'WITHSCORES')
  return {'full', tostring(tonumber(old[2]) - now)}
end
local keep = math.ceil(math.max(window, ttl)) + 1
if mode == 'reserve' then
  redis.call('ZADD', pk, now + ttl, rid)
  redis.call('ZADD', ap, now + ttl, rid)
  redis.call('ZADD', c, 'GT', now + ttl, key)
  redis.call('EXPIRE', pk, keep)
  redis.call('EXPIRE', ap, keep)
else
  redis.call('ZADD', f, now, rid)
  redis.call('ZADD', a, now, rid)
  redis.call('ZADD', c, 'GT', now + window, key)
  redis.call('EXPIRE', f, keep)
  redis.call('EXPIRE', a, keep)
end
redis.call('EXPIRE', c, keep)
return {'ok', '0'}
"""

_LOCKOUT_FINISH = """
local f, pk, a, ap, c = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key, rid, failed, window = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREM', pk, rid)
redis.call('ZREM', ap, rid)
if failed == '1' then
  local keep = math.ceil(window) + 1
  redis.call('ZADD', f, now, rid)
  redis.call('ZADD', a, now, rid)
  redis.call('ZADD', c, 'GT', now + window, key)
  redis.call('EXPIRE', f, keep)
  redis.call('EXPIRE', a, keep)
  redis.call('EXPIRE', c, keep)
else
  redis.call('ZREMRANGEBYSCORE', f, '-inf', now - window)
  if redis.call('ZCARD', f) == 0 and redis.call('ZCARD', pk) == 0 then
    redis.call('ZREM', c, key)
  end
end
return 1
"""

_LOCKOUT_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if ARGV[1] == 'clients' then
  return redis.call('ZCOUNT', KEYS[5], '(' .. tostring(now), '+inf')
end
return redis.call('ZCOUNT', KEYS[1], '(' .. tostring(now - tonumber(ARGV[2])), '+inf')
    + redis.call('ZCOUNT', KEYS[2], '(' .. tostring(now), '+inf')
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
        self._step = self._client.register_script(_LOCKOUT_STEP)
        self._finish = self._client.register_script(_LOCKOUT_FINISH)
        self._count = self._client.register_script(_LOCKOUT_COUNT)

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

    def lockout_step(
        self,
        key: str,
        rid: str,
        mode: str,
        *,
        attempts: int,
        window: float,
        global_attempts: int,
        max_entries: int,
        ttl: float,
    ) -> tuple[str, float]:
        """Count an attempt of client ``key`` in the fleet's lockout, if
        the limits leave room: ``mode`` ``"reserve"`` counts it as being
        checked, under the id ``rid``, until :meth:`lockout_finish` or
        ``ttl`` seconds; ``"fail"`` counts a failure.

        :returns: ``("ok", 0)`` when counted; ``("wait", 1)`` when only
            attempts being checked fill a limit (``"reserve"``);
            ``("client" | "everyone" | "full", seconds)`` when locked out,
            with the seconds until that may change.
        :raises StoreUnavailable: Redis did not answer.
        """
        args: list[str | int | float] = [key, rid, mode, attempts, window]
        args += [global_attempts, max_entries, ttl]
        outcome, seconds = self._call(
            lambda c: self._step(keys=self._lockout_keys(key), args=args, client=c)
        )
        return _text(outcome), float(seconds)

    def lockout_finish(self, key: str, rid: str, failed: bool, window: float) -> None:
        """End the reservation ``rid`` of client ``key``, counting a
        failure when ``failed``.

        :raises StoreUnavailable: Redis did not answer.
        """
        args = [key, rid, "1" if failed else "0", window]
        self._call(
            lambda c: self._finish(keys=self._lockout_keys(key), args=args, client=c)
        )

    def lockout_count(self, key: str, window: float) -> int:
        """The failures of ``key`` in the window plus its reservations.

        :raises StoreUnavailable: Redis did not answer.
        """
        keys = self._lockout_keys(key)
        return int(
            self._call(lambda c: self._count(keys=keys, args=["key", window], client=c))
        )

    def lockout_clients(self) -> int:
        """How many clients the fleet's lockout remembers.

        :raises StoreUnavailable: Redis did not answer.
        """
        keys = self._lockout_keys("")
        return int(
            self._call(lambda c: self._count(keys=keys, args=["clients", 0], client=c))
        )

    def publish_instance(self, name: str, report: dict[str, t.Any], ttl: int) -> None:
        """Publish the last shutdown of the instance ``name`` for the
        fleet status, for ``ttl`` seconds.

        :raises StoreUnavailable: Redis did not answer.
        """
        data = json.dumps(report)
        index = f"{self.prefix}fleet"

        def run(c: t.Any) -> None:
            pipe = c.pipeline(transaction=True)
            pipe.set(f"{index}:{name}", data, ex=ttl)
            # The index lets a read find the instances without SCAN over
            # the whole database; its scores say when each entry lapses.
            pipe.zadd(index, {name: time.time() + ttl})
            pipe.expire(index, ttl)
            pipe.execute()

        self._call(run)

    def instances(self, limit: int = 1000) -> list[dict[str, t.Any]]:
        """The last shutdown of each instance that published one and has
        not lapsed, by name; at most ``limit``.

        :raises StoreUnavailable: Redis did not answer.
        """
        index = f"{self.prefix}fleet"

        def run(c: t.Any) -> list[t.Any]:
            c.zremrangebyscore(index, "-inf", time.time())
            names = c.zrange(index, 0, limit - 1)

            if not names:
                return []

            return list(c.mget([f"{index}:{_text(n)}" for n in names]))

        rv = []

        for raw in self._call(run):
            if raw is not None:
                rv.append(json.loads(raw))

        return sorted(rv, key=lambda r: str(r.get("instance")))

    def _lockout_keys(self, key: str) -> list[str]:
        base = f"{self.prefix}lock:"
        return [
            f"{base}f:{key}",
            f"{base}p:{key}",
            f"{base}a",
            f"{base}ap",
            f"{base}c",
        ]

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


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _safe(uri: str) -> str:
    """``uri`` without a password."""
    scheme, sep, rest = uri.partition("://")

    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]

    return f"{scheme}{sep}{rest}"
