"""Signed, time-limited shutdown tokens (itsdangerous).

A token is a :class:`~itsdangerous.URLSafeTimedSerializer` dump of
``{"jti": ID, "exp": SECONDS, "scope": [ROLES]}`` signed with the app's
``SECRET_KEY`` under a salt of its own, so that a session cookie or any
other value signed with the same key never passes as a shutdown token.

Key rotation follows Flask's ``SECRET_KEY_FALLBACKS``: itsdangerous takes
the keys oldest to newest and signs with the last one, so the list is
``[*SECRET_KEY_FALLBACKS, SECRET_KEY]`` (Flask 3.1.0 built it the wrong
way round, GHSA-4grg-w6v8-c28g).
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import secrets
import time

from itsdangerous import BadData
from itsdangerous import URLSafeTimedSerializer

#: The salt that sets shutdown tokens apart from anything else signed with
#: the app's key.
SALT = "flask-shutdown.token"

#: Values of ``SECRET_KEY`` and of tokens seen in tutorials, templates and
#: generated projects. Signing shutdown tokens with one of these, or using
#: one as a token, would let anyone stop the server. They are compared
#: after :func:`_normalize`: case, separators and digits at either end do
#: not matter (``Change-Me-In-Production``, ``password1234``).
PLACEHOLDER_KEYS = frozenset(
    {
        "dev",
        "development",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "your-secret-key",
        "your_secret_key",
        "yoursecretkey",
        "mysecret",
        "my-secret-key",
        "super-secret",
        "supersecret",
        "default",
        "test",
        "testing",
        "key",
        "password",
        "xxx",
        "replace-me",
        # Added after a review found these accepted.
        "change-me-in-production",
        "change-this-in-production",
        "changeme-in-production",
        "super-secret-key",
        "supersecretkey",
        "your-secret-key-here",
        "your-secret-here",
        "put-your-secret-here",
        "enter-your-secret-key-here",
        "replace-with-your-secret-key",
        "my-super-secret-key",
        "my-secret",
        "top-secret",
        "very-secret",
        "very-secret-key",
        "not-so-secret",
        "not-secret",
        "insecure",
        "insecure-key",
        "dev-key",
        "development-key",
        "test-key",
        "testing-key",
        "flask-secret",
        "flask-secret-key",
        "app-secret-key",
        "hard-to-guess-string",
        "you-will-never-guess",
        "keep-it-secret-keep-it-safe",
        "this-is-a-secret",
        "this-is-not-a-secret",
        "secret-token",
        "shutdown-token",
        "api-key",
        "api-token",
        "admin",
        "letmein",
        "qwerty",
        "passw0rd",
        "password-here",
        "example",
        "sample",
        "dummy",
        "foobar",
        "token",
    }
)


def _normalize(value: str) -> str:
    """Lower case, letters and digits only, no digits at either end."""
    return "".join(c for c in value.lower() if c.isalnum()).strip("0123456789")


_PLACEHOLDERS = frozenset(_normalize(k) for k in PLACEHOLDER_KEYS)

#: The share of neighbouring characters that may step by at most one code
#: point (``aaaa``, ``abcd``, ``4321``) before a secret counts as a run.
_MAX_STEP_SHARE = 0.75


def weakness(secret: str | bytes, min_length: int) -> str | None:
    """Why ``secret`` is too weak to guard the endpoint, or ``None``.

    Refused: blank; a well-known placeholder (:data:`PLACEHOLDER_KEYS`);
    shorter than ``min_length``; made of very few distinct characters; a
    repeated pattern; mostly a run of neighbouring characters. A random
    value (``secrets.token_urlsafe(32)``) passes every rule; the rules
    catch what people type. The reason never quotes the secret.
    """
    # Latin-1 keeps one character per byte, so a random bytes key (such
    # as os.urandom(24)) is judged by its bytes.
    text = secret.decode("latin-1") if isinstance(secret, bytes) else str(secret)
    n = len(text)

    if not text.strip():
        return "it is blank"

    if _normalize(text) in _PLACEHOLDERS or text.strip().lower() in PLACEHOLDER_KEYS:
        return "it is a well-known placeholder"

    if n < min_length:
        return f"it is shorter than {min_length} characters"

    # Random values of this length have many more (the odds of fewer are
    # below one in ten thousand for 12 hexadecimal digits).
    distinct = len(set(text))

    if distinct < max(5, min(8, n // 4)):
        return f"it has only {distinct} different characters"

    for period in range(1, n // 2 + 1):
        if text[period:] == text[:-period]:
            return "it is a repeated pattern"

    steps = sum(abs(ord(a) - ord(b)) <= 1 for a, b in zip(text, text[1:], strict=False))

    if steps > _MAX_STEP_SHARE * (n - 1):
        return "it is mostly a run of neighbouring characters (such as abcd or 1234)"

    return None


#: How to make a strong secret, for the messages that refuse a weak one.
HOW_TO_MAKE_ONE = (
    "Use a long random value, such as the output of"
    ' python -c "import secrets; print(secrets.token_urlsafe(32))"'
)


#: The longest lifetime of a signed token, in seconds: a year. Used
#: tokens are remembered until they expire, so the lifetime is bounded.
MAX_EXPIRES_IN = 365 * 24 * 3600

#: The shortest ``SECRET_KEY`` accepted for signing shutdown tokens.
MIN_SECRET_KEY_LENGTH = 16


class TokenError(Exception):
    """A signed token was refused. The message is safe to show a client.

    :param message: Why, for the client.
    :param code: Why, as a short code for the audit log.
    :param jti: The token's id, when its signature was valid.
    """

    def __init__(self, message: str, code: str = "bad_token", jti: str | None = None):
        super().__init__(message)
        self.code = code
        self.jti = jti


@dataclasses.dataclass(frozen=True)
class SignedToken:
    """A verified signed token."""

    jti: str
    scope: frozenset[str]
    expires_at: float


class TokenSigner:
    """Creates and verifies signed tokens for one app, and remembers the
    ones already used until they expire.

    :param keys: Signing keys, oldest to newest; the last one signs. The
        config has checked that each one is strong.
    """

    def __init__(self, keys: cabc.Sequence[str | bytes]) -> None:
        self._serializer = URLSafeTimedSerializer(
            list(keys),  # type: ignore[arg-type]
            salt=SALT,
        )

    def create(self, expires_in: int, scope: cabc.Iterable[str]) -> str:
        """Return a new token valid for ``expires_in`` seconds.

        :raises ValueError: ``expires_in`` is not positive.
        """
        if not 0 < expires_in <= MAX_EXPIRES_IN:
            raise ValueError(
                "'expires_in' must be a positive number of seconds, at most"
                f" {MAX_EXPIRES_IN} (a year)."
            )

        payload = {
            "jti": secrets.token_urlsafe(12),
            "exp": int(expires_in),
            "scope": sorted(scope),
        }
        return self._serializer.dumps(payload)

    def verify(self, token: str) -> SignedToken:
        """Check signature, age and shape.

        :raises TokenError: Tampered, signed with another key or salt,
            expired, or malformed.
        """
        try:
            payload, signed_at = self._serializer.loads(token, return_timestamp=True)
        except (BadData, ValueError, TypeError, OverflowError):
            # BadData for anything tampered or signed otherwise; the rest
            # so that no input, however odd, escapes as a server error.
            raise TokenError("The token is not valid.") from None

        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("jti"), str)
            or not isinstance(payload.get("exp"), int)
            or isinstance(payload.get("exp"), bool)
            or not 0 < payload["exp"] <= MAX_EXPIRES_IN
            or not isinstance(payload.get("scope"), list)
        ):
            raise TokenError("The token is not valid.")

        jti = payload["jti"]
        now = time.time()
        expires_at = signed_at.timestamp() + payload["exp"]

        # Each token carries its own lifetime, which is only known once it
        # is loaded, so itsdangerous is not given a max_age; the lifetime
        # and a timestamp from the future are checked here instead.
        if signed_at.timestamp() > now + 1:
            raise TokenError("The token is not valid.", "token_from_future", jti)

        if now > expires_at:
            raise TokenError("The token has expired.", "token_expired", jti)

        return SignedToken(
            jti=jti,
            scope=frozenset(str(s) for s in payload["scope"]),
            expires_at=expires_at,
        )
