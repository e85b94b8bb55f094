"""The app's own users: HTTP Basic credentials checked against the app's
user table by a ``verify_password`` callback (SQLite here; any database
works the same way).

Run it, then stop it as the ``ops`` user::

    python examples/db_users_app.py
    curl -X POST -u ops:correct-horse-battery http://127.0.0.1:5000/shutdown
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from flask import Flask
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from flask_shutdown import serve
from flask_shutdown import Shutdown

DATABASE = os.environ.get("DATABASE", "users.sqlite3")

shutdown = Shutdown()


def init_db() -> None:
    # closing(): a connection's own "with" commits but does not close it.
    with contextlib.closing(sqlite3.connect(DATABASE)) as db, db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS users"
            " (name TEXT PRIMARY KEY, password TEXT, is_admin INTEGER)"
        )
        db.execute(
            "INSERT OR REPLACE INTO users VALUES (?, ?, 1), (?, ?, 0)",
            (
                "ops",
                generate_password_hash("correct-horse-battery"),
                "viewer",
                generate_password_hash("read-only-password"),
            ),
        )


@shutdown.verify_password
def verify_password(username: str, password: str) -> dict[str, object] | None:
    with contextlib.closing(sqlite3.connect(DATABASE)) as db:
        row = db.execute(
            "SELECT name, password, is_admin FROM users WHERE name = ?", (username,)
        ).fetchone()

    if row is None or not check_password_hash(row[1], password):
        return None

    return {"name": row[0], "is_admin": bool(row[2])}


@shutdown.get_user_roles
def get_user_roles(user: dict[str, object]) -> list[str]:
    # Everyone may read the status; only admins may stop the server.
    return ["shutdown", "status"] if user["is_admin"] else ["status"]


def create_app() -> Flask:
    init_db()
    app = Flask(__name__)
    shutdown.init_app(app)
    return app


if __name__ == "__main__":
    raise SystemExit(
        serve(create_app(), "127.0.0.1", int(os.environ.get("PORT", "5000")))
    )
