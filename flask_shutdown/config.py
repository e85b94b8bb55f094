"""The ``SHUTDOWN_*`` configuration keys, their defaults, and how they are
read once per app by :meth:`flask_shutdown.Shutdown.init_app`.
"""

from __future__ import annotations

import collections.abc as cabc
import copy
import dataclasses
import difflib
import ipaddress
import logging
import math
import os
import re
import typing as t

from .adapters.gunicorn import ARBITER_TOKEN_ENV
from .adapters.registry import check_strategy
from .adapters.registry import Strategy
from .addresses import normalize_origin
from .tokens import HOW_TO_MAKE_ONE
from .tokens import MIN_SECRET_KEY_LENGTH
from .tokens import weakness

if t.TYPE_CHECKING:
    from flask import Flask

logger = logging.getLogger(__name__)

#: Every key this extension reads, with its default. ``init_app`` applies
#: these with ``app.config.setdefault``, so ``app.config`` always shows the
#: values in force. ``docs/config.rst`` documents each one.
DEFAULTS: dict[str, t.Any] = {
    "SHUTDOWN_TOKENS": [],
    "SHUTDOWN_USERS": {},
    "SHUTDOWN_SIGNED_TOKENS": False,
    "SHUTDOWN_TOKEN_MAX_AGE": 300,
    "SHUTDOWN_MIN_TOKEN_LENGTH": 12,
    "SHUTDOWN_ROLES": {},
    "SHUTDOWN_PATH": "/shutdown",
    # None: SHUTDOWN_PATH + "/ready" (or "/status"); init_app writes the
    # path in force back.
    "SHUTDOWN_READY_PATH": None,
    "SHUTDOWN_STATUS_PATH": None,
    "SHUTDOWN_DRAIN_TIMEOUT": 30.0,
    "SHUTDOWN_DRAIN_DELAY": 0.0,
    "SHUTDOWN_HOOK_TIMEOUT": 10.0,
    "SHUTDOWN_STRATEGY": "auto",
    "SHUTDOWN_ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "SHUTDOWN_LOCKOUT_ATTEMPTS": 5,
    "SHUTDOWN_LOCKOUT_WINDOW": 60.0,
    "SHUTDOWN_MAX_BODY": 4096,
    "SHUTDOWN_TRUSTED_ORIGINS": [],
    "SHUTDOWN_STORAGE_URI": "memory://",
    "SHUTDOWN_LEGACY_HOOK": False,
    "SHUTDOWN_LIVE_PATH": None,
    "SHUTDOWN_DRAIN_EXEMPT": [],
    "SHUTDOWN_METRICS": True,
    "SHUTDOWN_IDLE_TIMEOUT": None,
    "SHUTDOWN_IDLE_IGNORE": None,
    "SHUTDOWN_STOP_WITH_PARENT": False,
    "SHUTDOWN_BROWSER_TIMEOUT": None,
    "SHUTDOWN_RUNTIME_FILE": True,
    "SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS": 20,
    "SHUTDOWN_LOCKOUT_SHARED_NETWORKS": ["127.0.0.0/8", "::1/128"],
    "SHUTDOWN_MAX_CONCURRENT_HASHES": 2,
    "SHUTDOWN_TRUSTED_HOSTS": None,
    "SHUTDOWN_SHARED_STATE": True,
    "SHUTDOWN_FLEET_STATUS": False,
    "SHUTDOWN_INSTANCE_NAME": None,
}

#: The two things a principal may be allowed to do. A principal with no
#: entry in ``SHUTDOWN_ROLES`` may do both.
ROLE_SHUTDOWN = "shutdown"
ROLE_STATUS = "status"
ALL_ROLES = frozenset({ROLE_SHUTDOWN, ROLE_STATUS})

#: The keyword arguments of :class:`~flask_shutdown.Shutdown` and the key
#: each one is the default of. Credentials are only read from config.
ARGUMENT_KEYS: dict[str, str] = {
    "path": "SHUTDOWN_PATH",
    "ready_path": "SHUTDOWN_READY_PATH",
    "status_path": "SHUTDOWN_STATUS_PATH",
    "drain_timeout": "SHUTDOWN_DRAIN_TIMEOUT",
    "drain_delay": "SHUTDOWN_DRAIN_DELAY",
    "hook_timeout": "SHUTDOWN_HOOK_TIMEOUT",
    "strategy": "SHUTDOWN_STRATEGY",
}

_HASH_METHODS = ("scrypt", "pbkdf2")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True)
class ShutdownConfig:
    """The resolved configuration of one app. Built once by
    :meth:`from_app`; later changes to ``app.config`` are not seen.
    """

    #: Static bearer secrets, by name. A list in the config is named by
    #: position (``"0"``, ``"1"``, ...).
    tokens: dict[str, str]
    #: Basic auth users and their Werkzeug password hashes.
    users: dict[str, str]
    signed_tokens: bool
    token_max_age: int
    min_token_length: int
    #: Principal name -> allowed roles.
    roles: dict[str, frozenset[str]]
    path: str
    #: Where the status report is served.
    status_path: str
    #: Where readiness is served; ``None`` when it is off.
    ready_path: str | None
    drain_timeout: float
    drain_delay: float
    hook_timeout: float
    strategy: Strategy
    allowed_networks: tuple[Network, ...]
    lockout_attempts: int
    lockout_window: float
    max_body: int
    #: Origins of other sites whose pages may call the endpoint, as
    #: ``scheme://host[:port]``.
    trusted_origins: tuple[str, ...] = ()
    #: Keys that sign and verify tokens, oldest to newest (the last one
    #: signs): ``[*SECRET_KEY_FALLBACKS, SECRET_KEY]``; empty when signed
    #: tokens are off.
    signing_keys: tuple[str | bytes, ...] = ()
    #: Where used tokens (and failed attempts) are recorded:
    #: ``memory://`` for one server, a Redis URI for a fleet.
    storage_uri: str = "memory://"
    #: Whether every request's environ gets a
    #: ``werkzeug.server.shutdown`` callable that starts the sequence.
    legacy_hook: bool = False
    #: Whether Prometheus metrics are exported when prometheus_client is
    #: installed.
    metrics: bool = True
    #: Where liveness is served, or ``None``.
    live_path: str | None = None
    #: Paths that keep being served while the server drains.
    drain_exempt: tuple[str, ...] = ()
    #: Seconds without a request after which the server stops itself, or
    #: ``None``.
    idle_timeout: float | None = None
    #: Paths whose requests are not activity; ``None`` means the readiness
    #: and status endpoints.
    idle_ignore: tuple[str, ...] | None = None
    #: Whether the server stops itself when its parent process exits.
    stop_with_parent: bool = False
    #: Seconds after the last browser page closed at which the server
    #: stops itself, or ``None``.
    browser_timeout: float | None = None
    #: Whether a ServerThread serving the app writes a runtime file for
    #: ``flask shutdown list`` and ``stop``.
    runtime_file: bool = True
    #: Failed attempts allowed from all clients together per window;
    #: ``0`` turns this budget off.
    lockout_global_attempts: int = 20
    #: Networks whose addresses the lockout counts as one client.
    lockout_shared_networks: tuple[Network, ...] = ()
    #: Password hashes that may run at once in the process.
    max_concurrent_hashes: int = 2
    #: Host names the endpoint may be addressed by, besides loopback names
    #: and addresses: ``SHUTDOWN_TRUSTED_HOSTS``, else Flask's
    #: ``TRUSTED_HOSTS``; ``None`` when neither is set.
    trusted_hosts: tuple[str, ...] | None = None
    #: Whether the worker processes of one server share the shutdown
    #: state, the used signed tokens and the lockout counters through a
    #: state file; ``False`` keeps each process's to itself.
    shared_state: bool = True
    #: Whether the instance publishes its last shutdown to the store and
    #: ``GET /shutdown/status?fleet=1`` lists every instance's.
    fleet_status: bool = False
    #: The name the instance publishes under; ``None``: host and master
    #: process id.
    instance_name: str | None = None

    @property
    def heartbeat_path(self) -> str:
        """Where browser pages send their heartbeats."""
        return self.path.rstrip("/") + "/heartbeat"

    @property
    def has_credentials(self) -> bool:
        """Whether any kind of credential is configured. Without one the
        endpoint is not exposed at all.
        """
        return bool(self.tokens or self.users or self.signed_tokens)

    @classmethod
    def from_app(cls, app: Flask, **arguments: t.Any) -> ShutdownConfig:
        """Apply the defaults to ``app.config``, read every key once, and
        make every check the config needs: the one place where a bad or
        unsafe value is refused.

        :param app: The app to read.
        :param arguments: Keyword arguments of the extension, named as in
            :data:`ARGUMENT_KEYS`; a key set in ``app.config`` wins over
            them.
        :raises RuntimeError: A key has a value of the wrong kind, or an
            unsafe one (a weak secret, a plain password).
        """
        config = app.config
        defaults = dict(DEFAULTS)

        for name, value in arguments.items():
            if value is not None:
                defaults[ARGUMENT_KEYS[name]] = value

        _warn_unknown_keys(config)

        for key, default in defaults.items():
            # Copy mutable defaults so that one app's config never shares a
            # list or dict with another's.
            config.setdefault(key, copy.copy(default))

        path = _read_path("SHUTDOWN_PATH", config["SHUTDOWN_PATH"])
        status_path = _read_sub_path(config, "SHUTDOWN_STATUS_PATH", path, "/status")
        ready_path = (
            None
            if config["SHUTDOWN_READY_PATH"] is False
            else _read_sub_path(config, "SHUTDOWN_READY_PATH", path, "/ready")
        )
        live_path = (
            None
            if config["SHUTDOWN_LIVE_PATH"] is False
            else _read_sub_path(config, "SHUTDOWN_LIVE_PATH", path, "/live")
        )
        _check_distinct(path, status_path, ready_path, live_path)

        signed_tokens = _read_bool(config, "SHUTDOWN_SIGNED_TOKENS")
        tokens = _read_tokens(config["SHUTDOWN_TOKENS"])
        arbiter_token = os.environ.get(ARBITER_TOKEN_ENV)

        if arbiter_token:
            # Given by a gunicorn arbiter whose SIGTERM runs the graceful
            # sequence (adapters.gunicorn.graceful_sigterm).
            tokens["gunicorn-arbiter"] = arbiter_token
        min_token_length = _read_number(config, "SHUTDOWN_MIN_TOKEN_LENGTH", int)
        _check_tokens(tokens, min_token_length)
        users = _read_mapping("SHUTDOWN_USERS", config["SHUTDOWN_USERS"])
        _check_users(users)
        strategy = _read_strategy(config["SHUTDOWN_STRATEGY"])

        return cls(
            tokens=tokens,
            users=users,
            signed_tokens=signed_tokens,
            token_max_age=_read_number(config, "SHUTDOWN_TOKEN_MAX_AGE", int),
            min_token_length=min_token_length,
            roles=_read_roles(config["SHUTDOWN_ROLES"]),
            path=path,
            status_path=status_path,
            ready_path=ready_path,
            drain_timeout=_read_number(config, "SHUTDOWN_DRAIN_TIMEOUT", float),
            drain_delay=_read_number(config, "SHUTDOWN_DRAIN_DELAY", float),
            hook_timeout=_read_number(config, "SHUTDOWN_HOOK_TIMEOUT", float),
            strategy=strategy,
            allowed_networks=_read_networks(config, "SHUTDOWN_ALLOWED_NETWORKS"),
            lockout_attempts=_read_number(config, "SHUTDOWN_LOCKOUT_ATTEMPTS", int),
            lockout_window=_read_number(config, "SHUTDOWN_LOCKOUT_WINDOW", float),
            max_body=_read_number(config, "SHUTDOWN_MAX_BODY", int),
            trusted_origins=_read_origins(config["SHUTDOWN_TRUSTED_ORIGINS"]),
            signing_keys=_read_signing_keys(config) if signed_tokens else (),
            storage_uri=_read_storage_uri(config["SHUTDOWN_STORAGE_URI"]),
            legacy_hook=_read_bool(config, "SHUTDOWN_LEGACY_HOOK"),
            metrics=_read_bool(config, "SHUTDOWN_METRICS"),
            live_path=live_path,
            drain_exempt=_read_paths(
                "SHUTDOWN_DRAIN_EXEMPT", config["SHUTDOWN_DRAIN_EXEMPT"]
            ),
            idle_timeout=_read_timeout(config, "SHUTDOWN_IDLE_TIMEOUT"),
            idle_ignore=(
                None
                if config["SHUTDOWN_IDLE_IGNORE"] is None
                else _read_paths("SHUTDOWN_IDLE_IGNORE", config["SHUTDOWN_IDLE_IGNORE"])
            ),
            stop_with_parent=_read_bool(config, "SHUTDOWN_STOP_WITH_PARENT"),
            browser_timeout=_read_timeout(config, "SHUTDOWN_BROWSER_TIMEOUT"),
            runtime_file=_read_bool(config, "SHUTDOWN_RUNTIME_FILE"),
            lockout_global_attempts=_read_number(
                config, "SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS", int
            ),
            lockout_shared_networks=_read_networks(
                config, "SHUTDOWN_LOCKOUT_SHARED_NETWORKS"
            ),
            max_concurrent_hashes=_read_number(
                config, "SHUTDOWN_MAX_CONCURRENT_HASHES", int, minimum=1
            ),
            trusted_hosts=_read_trusted_hosts(config),
            shared_state=_read_bool(config, "SHUTDOWN_SHARED_STATE"),
            fleet_status=_read_fleet_status(config),
            instance_name=_read_instance_name(config["SHUTDOWN_INSTANCE_NAME"]),
        )


def _read_paths(key: str, value: t.Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, cabc.Iterable):
        raise RuntimeError(f"{key!r} must be a list of URL paths, not {value!r}.")

    return tuple(_read_path(key, path) for path in value)


def _read_timeout(config: cabc.Mapping[str, t.Any], key: str) -> float | None:
    value = config[key]

    if value is None:
        return None

    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise RuntimeError(
            f"{key!r} must be a number of seconds above zero, or None to turn"
            f" it off, not {value!r}."
        )

    return float(value)


_STORAGE_SCHEMES = ("memory", "redis", "rediss", "unix")


def _read_fleet_status(config: cabc.Mapping[str, t.Any]) -> bool:
    on = _read_bool(config, "SHUTDOWN_FLEET_STATUS")

    if on and config["SHUTDOWN_STORAGE_URI"] == "memory://":
        # Each instance would only ever see itself.
        raise RuntimeError(
            "'SHUTDOWN_FLEET_STATUS' needs a store the instances share: set"
            " 'SHUTDOWN_STORAGE_URI' to a Redis URI such as"
            " 'redis://127.0.0.1:6379/0'."
        )

    return on


def _read_instance_name(value: t.Any) -> str | None:
    if value is None:
        return None

    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 200
        or not value.isprintable()
    ):
        raise RuntimeError(
            "'SHUTDOWN_INSTANCE_NAME' must be None or a printable string of"
            f" 1 to 200 characters, not {value!r}."
        )

    return value


def _read_storage_uri(value: t.Any) -> str:
    scheme = value.partition("://")[0] if isinstance(value, str) else ""

    if scheme not in _STORAGE_SCHEMES or "://" not in value:
        raise RuntimeError(
            "'SHUTDOWN_STORAGE_URI' must be 'memory://' or a Redis URI such as"
            " 'redis://127.0.0.1:6379/0' (schemes: "
            + ", ".join(_STORAGE_SCHEMES)
            + ")."
        )

    return str(value)


def _warn_unknown_keys(config: cabc.Mapping[str, t.Any]) -> None:
    # A misspelled key would otherwise be ignored in silence, and with it
    # the setting it was meant to change.
    for key in sorted(k for k in config if isinstance(k, str)):
        if key.startswith("SHUTDOWN_") and key not in DEFAULTS:
            close = difflib.get_close_matches(key, DEFAULTS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            logger.warning(
                "Unknown config key %r: Flask-Shutdown does not read it.%s"
                " The keys it reads are listed in its docs (Configuration).",
                key,
                hint,
            )


def _read_sub_path(
    config: cabc.MutableMapping[str, t.Any], key: str, path: str, suffix: str
) -> str:
    """An endpoint under ``SHUTDOWN_PATH`` unless set on its own: ``None``
    follows ``SHUTDOWN_PATH``, and the path in force is written back to
    the config.
    """
    value = config[key]

    if value is None:
        config[key] = path + suffix
        return path + suffix

    return _read_path(key, value)


def _check_distinct(
    path: str, status_path: str, ready_path: str | None, live_path: str | None
) -> None:
    paths = {"SHUTDOWN_PATH": path, "SHUTDOWN_STATUS_PATH": status_path}

    if ready_path is not None:
        paths["SHUTDOWN_READY_PATH"] = ready_path

    if live_path is not None:
        paths["SHUTDOWN_LIVE_PATH"] = live_path

    seen: dict[str, str] = {}

    for key, value in paths.items():
        if value in seen:
            raise RuntimeError(
                f"{seen[value]!r} and {key!r} are both {value!r}; each endpoint"
                " needs a path of its own."
            )

        seen[value] = key


def _read_bool(config: cabc.Mapping[str, t.Any], key: str) -> bool:
    # bool("false") is True: a string that only looks like a boolean
    # must not turn a credential on. Strings are accepted (a value read
    # from the environment), but only the usual spellings.
    value = config[key]

    if isinstance(value, bool):
        return value

    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True

    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False

    raise RuntimeError(
        f"{key!r} must be True or False (or, as a string, one of"
        f" {sorted(_TRUE | _FALSE)}), not {value!r}."
    )


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _read_signing_keys(config: cabc.Mapping[str, t.Any]) -> tuple[str | bytes, ...]:
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or []

    if isinstance(fallbacks, (str, bytes)):
        fallbacks = [fallbacks]

    keys = (*fallbacks, config.get("SECRET_KEY"))

    for i, key in enumerate(keys):
        _check_secret_key(
            key, "SECRET_KEY" if i == len(keys) - 1 else "SECRET_KEY_FALLBACKS"
        )

    return keys


def _check_secret_key(key: t.Any, what: str) -> None:
    if not key:
        raise RuntimeError(
            f"SHUTDOWN_SIGNED_TOKENS is on but {what!r} is not set. {HOW_TO_MAKE_ONE}."
        )

    if not isinstance(key, (str, bytes)):
        raise RuntimeError(
            f"SHUTDOWN_SIGNED_TOKENS is on but {what!r} is not a string or bytes."
        )

    why = weakness(key, MIN_SECRET_KEY_LENGTH)

    if why is not None:
        raise RuntimeError(
            f"SHUTDOWN_SIGNED_TOKENS is on but {what!r} is too weak to sign"
            f" shutdown tokens: {why}, so anyone could forge a token that stops"
            f" the server. {HOW_TO_MAKE_ONE}."
        )


def _check_tokens(tokens: dict[str, str], min_length: int) -> None:
    for name, secret in tokens.items():
        why = weakness(secret, min_length)

        if why is None:
            continue

        if why.startswith("it is shorter"):
            why += " (SHUTDOWN_MIN_TOKEN_LENGTH)"

        raise RuntimeError(
            f"The shutdown token named {name!r} in 'SHUTDOWN_TOKENS' is too"
            f" weak: {why}. {HOW_TO_MAKE_ONE}, or use signed tokens"
            " (SHUTDOWN_SIGNED_TOKENS and 'flask shutdown token')."
        )


def _check_users(users: dict[str, str]) -> None:
    for name, value in users.items():
        method = (
            value.split("$", 1)[0].split(":", 1)[0] if isinstance(value, str) else ""
        )

        if method not in _HASH_METHODS or value.count("$") != 2:
            raise RuntimeError(
                f"The password of user {name!r} in 'SHUTDOWN_USERS' is not a"
                " Werkzeug password hash. Store"
                " werkzeug.security.generate_password_hash(password) (or the"
                " output of 'flask shutdown hash-password'), never the password."
            )


def _read_tokens(value: t.Any) -> dict[str, str]:
    if isinstance(value, str):
        raise RuntimeError(
            "'SHUTDOWN_TOKENS' must be a list of secrets or a dict of"
            " name -> secret, not a single string."
        )

    if isinstance(value, cabc.Mapping):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, cabc.Iterable):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        raise RuntimeError(
            "'SHUTDOWN_TOKENS' must be a list of secrets or a dict of name -> secret."
        )

    for name, secret in items:
        if not isinstance(secret, str) or not secret:
            raise RuntimeError(
                f"The shutdown token named {name!r} in 'SHUTDOWN_TOKENS' must be"
                " a non-empty string."
            )

    return dict(items)


def _read_mapping(key: str, value: t.Any) -> dict[str, str]:
    if not isinstance(value, cabc.Mapping):
        raise RuntimeError(f"{key!r} must be a dict.")

    return {str(k): v for k, v in value.items()}


def _read_roles(value: t.Any) -> dict[str, frozenset[str]]:
    if not isinstance(value, cabc.Mapping):
        raise RuntimeError("'SHUTDOWN_ROLES' must be a dict of principal -> roles.")

    rv = {}

    for principal, roles in value.items():
        if isinstance(roles, str):
            roles = {roles}
        elif isinstance(roles, (list, tuple, set, frozenset)) and all(
            isinstance(r, str) for r in roles
        ):
            roles = set(roles)
        else:
            raise RuntimeError(
                f"'SHUTDOWN_ROLES' must give {principal!r} a list of roles, such"
                f" as ['status'], not {roles!r}."
            )

        unknown = roles - ALL_ROLES

        if unknown:
            raise RuntimeError(
                f"'SHUTDOWN_ROLES' gives {principal!r} the unknown role(s)"
                f" {sorted(unknown)}. The known roles are {sorted(ALL_ROLES)}."
            )

        rv[str(principal)] = frozenset(roles)

    return rv


_N = t.TypeVar("_N", int, float)

_INT = re.compile(r"[0-9]+")


def _read_number(
    config: cabc.Mapping[str, t.Any], key: str, kind: type[_N], *, minimum: _N = 0
) -> _N:
    """Read a whole number (``kind`` is ``int``) or a finite number of
    seconds (``float``), of at least ``minimum``. A string is accepted
    when it spells such a number (a value read from the environment);
    ``True``, ``5.5`` for a whole number and ``nan`` are not.
    """
    value = config[key]
    number: int | float | None = None

    if isinstance(value, str):
        text = value.strip()

        if kind is int and _INT.fullmatch(text):
            number = int(text)
        elif kind is float:
            try:
                number = float(text)
            except ValueError:
                pass
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and kind is float:
        number = value

    if number is None or not math.isfinite(number) or number < minimum:
        what = "a whole number" if kind is int else "a number"
        least = "zero" if minimum == 0 else minimum
        raise RuntimeError(f"{key!r} must be {what} of {least} or more, not {value!r}.")

    return kind(number)


def _read_strategy(value: t.Any) -> Strategy:
    if not (callable(value) or isinstance(value, str)):
        raise RuntimeError(
            f"'SHUTDOWN_STRATEGY' must be an adapter name or a callable, not {value!r}."
        )

    check_strategy(value)
    return t.cast(Strategy, value)


def _read_path(key: str, value: t.Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value == "/":
        raise RuntimeError(
            f"{key!r} must be a URL path that starts with '/', such as"
            f" '/shutdown', not {value!r}."
        )

    return value.rstrip("/")


def _read_networks(config: cabc.Mapping[str, t.Any], key: str) -> tuple[Network, ...]:
    value = config[key]

    if isinstance(value, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        value = [value]

    if not isinstance(value, (list, tuple, set, frozenset)):
        value = [value]

    rv = []

    for network in value:
        # ip_network() also takes an int or packed bytes, which are never
        # what was meant.
        if not isinstance(network, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
            raise RuntimeError(
                f"{key!r} must be a list of networks in CIDR notation, such as"
                f" ['127.0.0.0/8', '::1/128'], not {network!r}."
            )

        try:
            rv.append(ipaddress.ip_network(network, strict=False))
        except ValueError as e:
            raise RuntimeError(
                f"{key!r} must be a list of networks in CIDR notation, such as"
                f" ['127.0.0.0/8', '::1/128']: {e}"
            ) from None

    return tuple(rv)


#: A host name or address as ``SHUTDOWN_TRUSTED_HOSTS`` lists it: a name
#: (a leading dot matches every subdomain), an IPv4 address, or an IPv6
#: address in brackets.
_HOST = re.compile(r"\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\]")


def _read_trusted_hosts(config: cabc.Mapping[str, t.Any]) -> tuple[str, ...] | None:
    key = "SHUTDOWN_TRUSTED_HOSTS"
    value = config[key]

    if value is None:
        # Flask's own list, where the app sets one.
        key = "TRUSTED_HOSTS"
        value = config.get(key)

        if value is None:
            return None

    if isinstance(value, str):
        value = [value]

    if not isinstance(value, (list, tuple, set, frozenset)):
        value = [value]

    rv = []

    for host in value:
        name = host.strip().lower() if isinstance(host, str) else None

        if name is None or not _HOST.fullmatch(name):
            raise RuntimeError(
                f"{key!r} must be a list of host names, such as"
                f" ['shutdown.example.com', '.internal.example'], not {host!r}."
            )

        rv.append(name.rstrip("."))

    return tuple(rv)


def _read_origins(value: t.Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]

    if not isinstance(value, (list, tuple, set, frozenset)):
        value = [value]

    rv = []

    for origin in value:
        normalized = normalize_origin(origin) if isinstance(origin, str) else None

        if normalized is None:
            raise RuntimeError(
                "'SHUTDOWN_TRUSTED_ORIGINS' must be a list of origins such as"
                f" 'https://admin.example.com', not {origin!r}."
            )

        rv.append(normalized)

    return tuple(rv)
