"""The app's own credentials: JWTs checked by a ``verify_token``
callback, with the roles taken from the token's claims.

Run it, then stop it with a token from ``make_token()``::

    python examples/jwt_app.py
    TOKEN=$(cd examples && python -c 'import jwt_app; print(jwt_app.make_token())')
    curl -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5000/shutdown
"""

from __future__ import annotations

import datetime
import os

import jwt
from flask import Flask

from flask_shutdown import serve
from flask_shutdown import Shutdown

# The key the app's identity provider signs with; from the environment in
# production, never in the code.
JWT_KEY = os.environ.get("JWT_KEY", "example-jwt-signing-key-0123456789abcdef")

shutdown = Shutdown()


@shutdown.verify_token
def verify_token(token: str) -> dict[str, object] | None:
    try:
        claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"], audience="ops")
    except jwt.InvalidTokenError:
        return None  # refused: 401, counted by the lockout, audited

    return {"name": claims["sub"], "roles": claims.get("roles", [])}


@shutdown.get_user_roles
def get_user_roles(user: dict[str, object]) -> object:
    return user["roles"]


def make_token(roles: tuple[str, ...] = ("shutdown", "status")) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    claims = {
        "sub": "deploy-bot",
        "aud": "ops",
        "roles": list(roles),
        "exp": now + datetime.timedelta(minutes=5),
    }
    return jwt.encode(claims, JWT_KEY, algorithm="HS256")


def create_app() -> Flask:
    app = Flask(__name__)
    shutdown.init_app(app)  # the callbacks are registered: it is exposed
    return app


if __name__ == "__main__":
    raise SystemExit(
        serve(create_app(), "127.0.0.1", int(os.environ.get("PORT", "5000")))
    )
