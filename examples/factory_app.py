"""An application factory that registers the extension with ``init_app``
and accepts signed, single-use tokens.

Try it::

    export SECRET_KEY="$(python -c 'import secrets; print(secrets.token_hex())')"
    cd examples
    python factory_app.py                 # serves on http://127.0.0.1:5000

    # In another shell, with the same SECRET_KEY, in the same directory:
    export SHUTDOWNCTL_TOKEN="$(flask --app factory_app shutdown token --expires 60)"
    flask shutdown send http://127.0.0.1:5000 --reason "deploy"

A token is valid for 60 seconds and stops the server once. The teardown
hook prints ``saving state``, then the process exits with code 0. Set
``PORT=0`` to pick a free port; the address is printed as ``Serving on
URL``.
"""

from __future__ import annotations

import os
import typing as t

from flask import Flask

from flask_shutdown import serve
from flask_shutdown import Shutdown

shutdown = Shutdown()


@shutdown.teardown
def save_state() -> None:
    print("saving state", flush=True)


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("SECRET_KEY"),
        SHUTDOWN_SIGNED_TOKENS=True,
    )
    app.config.update(config or {})

    @app.get("/")
    def index() -> str:
        return "Hello from the factory app.\n"

    shutdown.init_app(app)
    return app


if __name__ == "__main__":
    raise SystemExit(serve(create_app(), port=int(os.environ.get("PORT", "5000"))))
