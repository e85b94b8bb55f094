"""Weak secrets and loosely typed config are refused at ``init_app``, with
a message that names the key and never quotes the secret.
"""

from __future__ import annotations

import math
import os
import random
import string
import typing as t

import pytest
from flask import Flask

from flask_shutdown import Shutdown
from flask_shutdown.tokens import weakness

from .conftest import PASSWORD_HASH
from .conftest import SECRET_KEY
from .conftest import TOKEN

#: Accepted before; each one would let anyone forge a token.
WEAK_KEYS = [
    "change-me-in-production",
    "super-secret-key",
    "your-secret-key-here",
    "aaaaaaaaaaaaaaaa",
    " " * 16,
    "Change_Me_In_Production_2024",
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdef",
    "secretsecretsecret",
    "ab12ab12ab12ab12ab12",
    b"\x00" * 32,
]
WEAK_TOKENS = [
    "aaaaaaaaaaaa",
    "password1234",
    "Password-1234",
    "123456789012",
    "abcabcabcabc",
    "qwerty123456",
    "\t" * 20,
]


def _init(**config: t.Any) -> Flask:
    app = Flask("secrets")
    app.config.update(config)
    Shutdown(app)
    return app


@pytest.mark.parametrize("key", WEAK_KEYS, ids=range(len(WEAK_KEYS)))
def test_weak_secret_key_is_refused(key: str | bytes) -> None:
    with pytest.raises(RuntimeError) as info:
        _init(SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=key)

    message = str(info.value)
    assert "'SECRET_KEY'" in message
    assert "secrets.token_urlsafe(32)" in message

    if isinstance(key, str) and key.strip():
        assert key not in message


@pytest.mark.parametrize("key", WEAK_KEYS[:3])
def test_weak_fallback_key_is_refused(key: str) -> None:
    with pytest.raises(RuntimeError, match="'SECRET_KEY_FALLBACKS'"):
        _init(
            SHUTDOWN_SIGNED_TOKENS=True,
            SECRET_KEY=SECRET_KEY,
            SECRET_KEY_FALLBACKS=[key],
        )


@pytest.mark.parametrize("token", WEAK_TOKENS, ids=range(len(WEAK_TOKENS)))
def test_weak_static_token_is_refused(token: str) -> None:
    with pytest.raises(RuntimeError) as info:
        _init(SHUTDOWN_TOKENS={"deploy": token})

    message = str(info.value)
    assert "'deploy' in 'SHUTDOWN_TOKENS'" in message
    assert "secrets.token_urlsafe(32)" in message
    assert "flask shutdown token" in message

    if token.strip():
        assert token not in message


def test_weak_secret_key_unused_without_signed_tokens() -> None:
    # The key is only judged when it signs shutdown tokens.
    _init(SECRET_KEY="dev", SHUTDOWN_TOKENS=[TOKEN])


def test_random_secrets_pass() -> None:
    rng = random.Random(0)
    # Twelve decimal digits hold only 40 bits; such a token is sometimes
    # refused for having few distinct characters, and that is fine.
    cases = [
        (string.ascii_letters + string.digits + "-_", (12, 16, 32, 64)),
        (string.hexdigits[:16], (12, 16, 32, 64)),
        (string.digits, (20, 32, 64)),
    ]

    for alphabet, lengths in cases:
        for length in lengths:
            for _ in range(200):
                secret = "".join(rng.choice(alphabet) for _ in range(length))
                assert weakness(secret, 12) is None, secret

    assert weakness(os.urandom(24), 16) is None
    _init(SHUTDOWN_SIGNED_TOKENS=True, SECRET_KEY=os.urandom(32))


# -- typed keys --------------------------------------------------------------

#: (key, value, what init_app reads, or None for an error naming the key)
TYPED: list[tuple[str, t.Any, t.Any]] = [
    ("SHUTDOWN_SIGNED_TOKENS", "false", False),
    ("SHUTDOWN_SIGNED_TOKENS", "0", False),
    ("SHUTDOWN_SIGNED_TOKENS", " Off ", False),
    ("SHUTDOWN_SIGNED_TOKENS", "TRUE", True),
    ("SHUTDOWN_SIGNED_TOKENS", "maybe", None),
    ("SHUTDOWN_SIGNED_TOKENS", 1, None),
    ("SHUTDOWN_SIGNED_TOKENS", None, None),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", "5", 5),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", " 7 ", 7),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", 5.7, None),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", 5.0, None),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", "5.0", None),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", "five", None),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", -1, None),
    ("SHUTDOWN_LOCKOUT_ATTEMPTS", True, None),
    ("SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS", "0", 0),
    ("SHUTDOWN_MAX_CONCURRENT_HASHES", 0, None),
    ("SHUTDOWN_MAX_CONCURRENT_HASHES", "3", 3),
    ("SHUTDOWN_DRAIN_TIMEOUT", "2.5", 2.5),
    ("SHUTDOWN_DRAIN_TIMEOUT", 3, 3.0),
    ("SHUTDOWN_DRAIN_TIMEOUT", math.nan, None),
    ("SHUTDOWN_DRAIN_TIMEOUT", math.inf, None),
    ("SHUTDOWN_DRAIN_TIMEOUT", "nan", None),
    ("SHUTDOWN_DRAIN_TIMEOUT", "-1", None),
    ("SHUTDOWN_DRAIN_TIMEOUT", [1], None),
    ("SHUTDOWN_MAX_BODY", "4k", None),
    ("SHUTDOWN_ALLOWED_NETWORKS", [2130706433], None),
    ("SHUTDOWN_ALLOWED_NETWORKS", [b"\x7f\x00\x00\x01"], None),
    ("SHUTDOWN_ALLOWED_NETWORKS", 2130706433, None),
    ("SHUTDOWN_LOCKOUT_SHARED_NETWORKS", ["10.0.0.0/33"], None),
    ("SHUTDOWN_ROLES", {"token:0": 5}, None),
    ("SHUTDOWN_ROLES", {"token:0": [None]}, None),
    ("SHUTDOWN_STRATEGY", ["auto"], None),
    ("SHUTDOWN_STRATEGY", 5, None),
    ("SHUTDOWN_PATH", 5, None),
    ("SHUTDOWN_TRUSTED_ORIGINS", [None], None),
    ("SHUTDOWN_TRUSTED_HOSTS", [5], None),
]

_FIELDS = {
    "SHUTDOWN_SIGNED_TOKENS": "signed_tokens",
    "SHUTDOWN_LOCKOUT_ATTEMPTS": "lockout_attempts",
    "SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS": "lockout_global_attempts",
    "SHUTDOWN_MAX_CONCURRENT_HASHES": "max_concurrent_hashes",
    "SHUTDOWN_DRAIN_TIMEOUT": "drain_timeout",
}


@pytest.mark.parametrize(("key", "value", "expected"), TYPED)
def test_typed_keys_are_strict(key: str, value: t.Any, expected: t.Any) -> None:
    config = {
        "SECRET_KEY": SECRET_KEY,
        "SHUTDOWN_TOKENS": [TOKEN],
        "SHUTDOWN_USERS": {"ops": PASSWORD_HASH},
        key: value,
    }

    if expected is None:
        with pytest.raises(RuntimeError, match=repr(key)):
            _init(**config)
    else:
        app = _init(**config)
        read = getattr(app.extensions["shutdown"].config, _FIELDS[key])
        assert read == expected and type(read) is type(expected)
