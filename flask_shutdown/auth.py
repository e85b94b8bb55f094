"""Credentials, through Flask-HTTPAuth: the ``Authorization`` scheme picks
the method.

``Bearer``
    A static secret from ``SHUTDOWN_TOKENS`` (compared in constant time),
    or a signed token from :meth:`Shutdown.create_token`.
``Basic``
    A user from ``SHUTDOWN_USERS``, whose value is a
    :func:`werkzeug.security.generate_password_hash` hash.

The token scheme is the main one, so a request with no credentials gets
``WWW-Authenticate: Bearer ...``, which does not make browsers prompt.

The lockout (:class:`~flask_shutdown.security.Lockout`) is consulted here,
where the kind of credential is known. Tokens are compared first, cheaply
and in constant time, so that a valid one is accepted even when others on
the same address have used up its attempts; a wrong one is counted. A
Basic password is counted before it is hashed, and at most
``SHUTDOWN_MAX_CONCURRENT_HASHES`` hashes run at once. A request without
credentials, or with a header that does not parse, guesses nothing and is
not counted.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import hmac
import logging
import threading
import typing as t

from flask import request
from flask_httpauth import HTTPBasicAuth
from flask_httpauth import HTTPTokenAuth
from flask_httpauth import MultiAuth
from werkzeug.security import check_password_hash

from .config import ALL_ROLES
from .refusals import REALM
from .refusals import ShutdownRefused
from .tokens import SignedToken
from .tokens import TokenError

if t.TYPE_CHECKING:
    from .config import ShutdownConfig
    from .security import Guard
    from .tokens import TokenSigner

logger = logging.getLogger(__name__)

#: What a client is told to wait after a password check was refused
#: because too many were running.
HASH_RETRY_AFTER = 1


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who authenticated. :attr:`name` is safe to log: it never holds a
    secret.
    """

    #: ``"user:NAME"``, ``"token:NAME"`` or ``"signed:ID"``.
    name: str
    #: ``"basic"``, ``"token"`` or ``"signed"``.
    method: str
    roles: frozenset[str]
    #: The verified signed token, for the replay check.
    signed: SignedToken | None = None
    #: What the app's verify callback returned, for app principals.
    user: t.Any = dataclasses.field(default=None, compare=False)


class Authenticator:
    """The Flask-HTTPAuth objects of one app. The verify callbacks raise
    :class:`~flask_shutdown.ShutdownRefused` with the exact reason instead
    of returning ``None``, so no side channel is needed to tell the client
    and the audit log why.

    :param config: The app's resolved config.
    :param signer: Verifies signed tokens, or ``None`` when they are off.
    :param guard: Keeps the lockout and knows each client's key.
    :param callbacks: The app's own credential checks, registered on the
        extension; read at each request.
    """

    def __init__(
        self,
        config: ShutdownConfig,
        signer: TokenSigner | None,
        guard: Guard,
        callbacks: Callbacks | None = None,
    ) -> None:
        self.config = config
        self.signer = signer
        self.guard = guard
        self.callbacks = Callbacks() if callbacks is None else callbacks
        #: The token of this run's runtime file (:mod:`flask_shutdown.runtime`),
        #: for ``flask shutdown stop``; ``None`` while no file is written.
        self.local_token: str | None = None
        # Each scrypt hash takes 32 MiB for a moment (Werkzeug's default
        # cost); without a cap, many concurrent guesses exhaust memory.
        self._hashes = threading.BoundedSemaphore(config.max_concurrent_hashes)
        # A hash to check unknown user names against, so that a wrong user
        # name takes as long as a wrong password.
        self._dummy_hash = next(iter(config.users.values()), None)

        self.token_auth = HTTPTokenAuth(scheme="Bearer", realm=REALM)
        self.basic_auth = HTTPBasicAuth(realm=REALM)
        self.multi = MultiAuth(self.token_auth, self.basic_auth)

        for auth in (self.token_auth, self.basic_auth):
            auth.error_handler(self._error)

        self.token_auth.verify_token(self._verify_token)
        self.basic_auth.verify_password(self._verify_password)

    def protect(self, view: cabc.Callable[[], _R]) -> cabc.Callable[[], _R]:
        """Wrap ``view`` so that it runs only with valid credentials."""
        return self.multi.login_required(view)  # type: ignore[no-any-return]

    def current_principal(self) -> Principal | None:
        """The principal of the current request, once authenticated."""
        return self.multi.current_user()  # type: ignore[no-any-return]

    def check_header(self) -> None:
        """Refuse an ``Authorization`` header that Werkzeug cannot parse.

        Werkzeug raises ``ValueError`` for some malformed values (a
        ``basic`` scheme in another case followed by non-ASCII text), and
        Werkzeug 3.0.0 ``IndexError`` for others (a parameter with an empty
        name, ``" =0"``), which would otherwise escape from the
        authentication as a server error.

        :raises ShutdownRefused: ``401 bad_authorization``.
        """
        try:
            request.authorization  # noqa: B018
        except (ValueError, IndexError):
            raise ShutdownRefused.unauthorized(
                "bad_authorization", "The Authorization header is malformed."
            ) from None

    def _principal(
        self, name: str, method: str, scope: frozenset[str] | None = None
    ) -> Principal:
        roles = self.config.roles.get(name, ALL_ROLES)

        if scope is not None:
            roles = roles & scope

        return Principal(name=name, method=method, roles=frozenset(roles))

    def _verify_token(self, token: str) -> Principal:
        match = None

        # Compare with every token, not stopping at a match, so the time
        # taken does not tell which one matched.
        for name, secret in self.config.tokens.items():
            if hmac.compare_digest(
                token.encode("utf-8", "surrogateescape"), secret.encode()
            ):
                match = name

        local = self.local_token

        if local is not None and hmac.compare_digest(
            token.encode("utf-8", "surrogateescape"), local.encode()
        ):
            match = "local"

        if match is not None:
            return self._principal(f"token:{match}", "token")

        if self.callbacks.token is not None:
            user = self._call(self.callbacks.token, token)

            if user is not None:
                return self._app_principal(user, "token")

        if self.signer is None:
            self._count_failure()
            raise ShutdownRefused.unauthorized(
                "bad_token", "The bearer token is not valid."
            )

        try:
            signed = self.signer.verify(token)
        except TokenError as e:
            self._count_failure()
            raise ShutdownRefused.unauthorized(
                e.code,
                str(e),
                principal=None if e.jti is None else f"signed:{e.jti}",
            ) from None

        principal = self._principal(f"signed:{signed.jti}", "signed", signed.scope)
        return dataclasses.replace(principal, signed=signed)

    def _verify_password(self, username: str, password: str) -> Principal:
        if not username and not password:
            raise ShutdownRefused.unauthorized(
                "no_credentials", "The Basic credentials are empty.", scheme="Basic"
            )

        stored = self.config.users.get(username)

        if stored is None and self.callbacks.password is not None:
            return self._verify_with_callback(username, password)

        # Counted before the hash runs, so that a burst of concurrent
        # guesses cannot get past the limit while the first ones hash.
        lockout = self.guard.lockout
        attempt = lockout.reserve(self.guard.client_key(request))
        ok: bool | None = None

        try:
            # An unknown user name is checked against a real hash, so that
            # it takes as long as a wrong password; it fails whatever the
            # outcome.
            checked = self._check_password(stored or self._dummy_hash, password)
            ok = checked and stored is not None
        finally:
            # Refused before the hash ran (too many at once): not a failure.
            lockout.finish(attempt, failed=ok is False)

        if stored is None:
            # The claimed name is not logged: an unknown "user name" is
            # often a password typed into the wrong field.
            raise ShutdownRefused.unauthorized(
                "unknown_user", _BAD_PASSWORD, scheme="Basic"
            )

        if not ok:
            raise ShutdownRefused.unauthorized(
                "bad_password",
                _BAD_PASSWORD,
                scheme="Basic",
                principal=f"user:{username}",
            )

        return self._principal(f"user:{username}", "basic")

    def _check_password(self, stored: str | None, password: str) -> bool:
        """Hash ``password`` against ``stored``, if a hash may run now.

        :raises ShutdownRefused: ``SHUTDOWN_MAX_CONCURRENT_HASHES`` hashes
            are running: ``429`` at once, rather than queueing work that
            holds memory and threads.
        """
        if stored is None:
            return False

        with self._hash_slot():
            return check_password_hash(stored, password)

    @contextlib.contextmanager
    def _hash_slot(self) -> cabc.Iterator[None]:
        """Hold one of the ``SHUTDOWN_MAX_CONCURRENT_HASHES`` slots for a
        password check (a hash, or the app's callback that runs one).

        :raises ShutdownRefused: Every slot is taken: ``429`` at once,
            rather than queueing work that holds memory and threads.
        """
        if not self._hashes.acquire(blocking=False):
            raise ShutdownRefused.retry_after(
                "too_many_concurrent",
                "Too many password checks are running at once. Try again in a"
                " moment, or use a bearer token. SHUTDOWN_MAX_CONCURRENT_HASHES"
                " sets the limit.",
                HASH_RETRY_AFTER,
            )

        try:
            yield
        finally:
            self._hashes.release()

    def _verify_with_callback(self, username: str, password: str) -> Principal:
        """Check Basic credentials with the app's callback, counted and
        capped like a password hash: the callback usually runs one.
        """
        assert self.callbacks.password is not None
        lockout = self.guard.lockout
        attempt = lockout.reserve(self.guard.client_key(request))
        user = None
        ran = False

        try:
            with self._hash_slot():
                ran = True
                user = self._call(
                    self.callbacks.password, username, password, scheme="Basic"
                )
        finally:
            lockout.finish(attempt, failed=ran and user is None)

        if user is None:
            raise ShutdownRefused.unauthorized(
                "bad_password", _BAD_PASSWORD, scheme="Basic"
            )

        return self._app_principal(user, "basic")

    def _call(
        self, callback: t.Callable[..., t.Any], *args: str, scheme: str = "Bearer"
    ) -> t.Any:
        """Run an app's credential callback; one that raises is a refusal,
        logged with its traceback, never a server error.
        """
        try:
            return callback(*args)
        except Exception:
            logger.exception("The app's %s verify callback failed.", scheme.lower())
            raise ShutdownRefused.unauthorized(
                "callback_error",
                "The credentials could not be checked.",
                scheme=scheme,
            ) from None

    def _app_principal(self, user: t.Any, method: str) -> Principal:
        """The principal for a user the app's callback returned."""
        if isinstance(user, cabc.Mapping):
            name = user.get("name") or user.get("username")
        else:
            name = getattr(user, "name", None) or getattr(user, "username", None)

        principal = f"app:{name if isinstance(name, str) else user}"
        roles = self.config.roles.get(principal)

        if self.callbacks.roles is not None:
            try:
                given = self.callbacks.roles(user)
            except Exception:
                logger.exception("The app's roles callback failed.")
                given = ()

            roles = frozenset({given} if isinstance(given, str) else given or ())

        return Principal(
            name=principal,
            method=method,
            roles=frozenset(ALL_ROLES if roles is None else roles) & ALL_ROLES,
            user=user,
        )

    def _count_failure(self) -> None:
        """Count a wrong token; refuse with ``429`` instead of ``401`` once
        the client, or every client, is locked out.
        """
        self.guard.lockout.fail(self.guard.client_key(request))

    def _error(self, status: int) -> t.NoReturn:
        # Reached only when no verify callback ran: Flask-HTTPAuth does not
        # call it for an empty token or a scheme it does not know. The
        # callbacks raise for everything else.
        if "Authorization" in request.headers:
            raise ShutdownRefused.unauthorized(
                "bad_authorization",
                "The Authorization header is not 'Bearer <token>' or HTTP Basic.",
            )

        raise ShutdownRefused.unauthorized("no_credentials", _NO_CREDENTIALS)


_R = t.TypeVar("_R")


@dataclasses.dataclass
class Callbacks:
    """The app's own credential checks, registered with
    :meth:`Shutdown.verify_token <flask_shutdown.Shutdown.verify_token>`,
    :meth:`~flask_shutdown.Shutdown.verify_password` and
    :meth:`~flask_shutdown.Shutdown.get_user_roles`.
    """

    token: t.Callable[[str], t.Any] | None = None
    password: t.Callable[[str, str], t.Any] | None = None
    roles: t.Callable[[t.Any], t.Any] | None = None

    def __bool__(self) -> bool:
        return self.token is not None or self.password is not None


_NO_CREDENTIALS = (
    "Authentication required: send 'Authorization: Bearer <token>' or HTTP Basic"
    " credentials."
)
_BAD_PASSWORD = "The user name or password is not valid."
