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
"""

from __future__ import annotations

import dataclasses
import hmac
import typing as t

from flask import g
from flask import jsonify
from flask import request
from flask_httpauth import HTTPBasicAuth
from flask_httpauth import HTTPTokenAuth
from flask_httpauth import MultiAuth
from werkzeug.security import check_password_hash

from .config import ALL_ROLES
from .tokens import SignedToken
from .tokens import TokenError

if t.TYPE_CHECKING:
    from flask import Response

    from .config import ShutdownConfig
    from .tokens import TokenSigner

REALM = "flask-shutdown"

_HASH_METHODS = ("scrypt", "pbkdf2")


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


def check_users(users: dict[str, str]) -> None:
    """Refuse ``SHUTDOWN_USERS`` values that are not password hashes.

    :raises RuntimeError: A value looks like a plain password.
    """
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


def check_tokens(tokens: dict[str, str], min_length: int) -> None:
    """Refuse static tokens shorter than ``SHUTDOWN_MIN_TOKEN_LENGTH``.

    :raises RuntimeError: A token is too short.
    """
    for name, secret in tokens.items():
        if len(secret) < min_length:
            raise RuntimeError(
                f"The shutdown token named {name!r} in 'SHUTDOWN_TOKENS' is"
                f" shorter than {min_length} characters (SHUTDOWN_MIN_TOKEN_LENGTH)."
                " Use a long random value, such as the output of"
                " 'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'."
            )


class Authenticator:
    """The Flask-HTTPAuth objects of one app.

    :param config: The app's resolved config.
    :param signer: Verifies signed tokens, or ``None`` when they are off.
    """

    def __init__(self, config: ShutdownConfig, signer: TokenSigner | None) -> None:
        self.config = config
        self.signer = signer
        # A hash to check unknown user names against, so that a wrong user
        # name takes as long as a wrong password.
        self._dummy_hash = next(iter(config.users.values()), None)

        self.token_auth = HTTPTokenAuth(scheme="Bearer", realm=REALM)
        self.basic_auth = HTTPBasicAuth(realm=REALM)
        self.multi = MultiAuth(self.token_auth, self.basic_auth)

        for auth in (self.token_auth, self.basic_auth):
            auth.get_user_roles(self._roles)
            auth.error_handler(self._error)

        self.token_auth.verify_token(self._verify_token)
        self.basic_auth.verify_password(self._verify_password)

    def _roles(self, principal: Principal) -> list[str]:
        # Called once the credentials are valid: when the role check then
        # fails, the audit record still names who was refused.
        g._shutdown_claimed = principal.name
        return sorted(principal.roles)

    def _principal(
        self, name: str, method: str, scope: frozenset[str] | None = None
    ) -> Principal:
        roles = self.config.roles.get(name, ALL_ROLES)

        if scope is not None:
            roles = roles & scope

        return Principal(name=name, method=method, roles=frozenset(roles))

    def _verify_token(self, token: str) -> Principal | None:
        match = None

        # Compare with every token, not stopping at a match, so the time
        # taken does not tell which one matched.
        for name, secret in self.config.tokens.items():
            if hmac.compare_digest(
                token.encode("utf-8", "surrogateescape"), secret.encode()
            ):
                match = name

        if match is not None:
            return self._principal(f"token:{match}", "token")

        if self.signer is None:
            _fail("bad_token", "The bearer token is not valid.")
            return None

        try:
            signed = self.signer.verify(token)
        except TokenError as e:
            _fail(e.code, str(e), None if e.jti is None else f"signed:{e.jti}")
            return None

        principal = self._principal(f"signed:{signed.jti}", "signed", signed.scope)
        return dataclasses.replace(principal, signed=signed)

    def _verify_password(self, username: str, password: str) -> Principal | None:
        if not username and not password:
            _fail("no_credentials", "The Basic credentials are empty.")
            return None

        stored = self.config.users.get(username)

        if stored is None:
            if self._dummy_hash is not None:
                check_password_hash(self._dummy_hash, password)

            # The claimed name is not logged: an unknown "user name" is
            # often a password typed into the wrong field.
            _fail("unknown_user", "The user name or password is not valid.")
            return None

        if not check_password_hash(stored, password):
            _fail(
                "bad_password",
                "The user name or password is not valid.",
                f"user:{username}",
            )
            return None

        return self._principal(f"user:{username}", "basic")

    def check_header(self) -> Response | None:
        """Refuse an ``Authorization`` header that Werkzeug cannot parse.

        Werkzeug raises ``ValueError`` for some malformed values (a
        ``basic`` scheme in another case followed by non-ASCII text), which
        would otherwise escape from the authentication as a server error.

        :returns: A 401 answer, or ``None`` to go on.
        """
        try:
            request.authorization  # noqa: B018
        except ValueError:
            _fail("bad_authorization", "The Authorization header is malformed.")
            return self.token_auth.auth_error_callback(401)  # type: ignore[no-any-return]

        return None

    def _error(self, status: int) -> Response:
        if status == 403:
            body = {
                "error": "forbidden",
                "message": "These credentials may not do this. See SHUTDOWN_ROLES.",
            }
        else:
            body = {
                "error": "unauthorized",
                "message": g.get(
                    "_shutdown_auth_error",
                    "Authentication required: send 'Authorization: Bearer <token>'"
                    " or HTTP Basic credentials.",
                ),
            }

        rv = jsonify(body)
        rv.status_code = status
        return rv


def _fail(code: str, message: str, principal: str | None = None) -> None:
    """Note why authentication failed, for the answer and the audit log.

    :param code: A short code for the audit log.
    :param message: For the client; never names a secret.
    :param principal: The known principal the credentials named, if any.
    """
    g._shutdown_auth_error = message
    g._shutdown_auth_reason = code
    g._shutdown_claimed = principal


def failure() -> tuple[str | None, str | None]:
    """Why authentication failed in this request, as noted by the verify
    callbacks: the reason code and the principal the credentials named.
    """
    return g.get("_shutdown_auth_reason"), g.get("_shutdown_claimed")
