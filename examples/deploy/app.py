"""The app the Dockerfile and the systemd unit run, with serve(): SIGTERM
(docker stop, systemctl stop) and POST /shutdown both run the graceful
sequence, the process exits with the shutdown's exit code, and under
systemd it reports READY=1 and STOPPING=1.

The token comes from the environment: SHUTDOWN_TOKEN in the container or
the unit's EnvironmentFile.
"""

from __future__ import annotations

import os

from flask import Flask

from flask_shutdown import serve
from flask_shutdown import Shutdown

app = Flask(__name__)
app.config["SHUTDOWN_TOKENS"] = {"deploy": os.environ["SHUTDOWN_TOKEN"]}
# Inside a container the probes and the preStop hook come over loopback;
# widen this only together with TLS and a proxy (see the security page).
app.config["SHUTDOWN_DRAIN_DELAY"] = float(os.environ.get("DRAIN_DELAY", "0"))
shutdown = Shutdown(app)


@app.get("/")
def index() -> str:
    return "hello"


@shutdown.teardown
def close_db() -> None:
    print("closing the database", flush=True)


if __name__ == "__main__":
    raise SystemExit(
        serve(
            app,
            os.environ.get("HOST", "127.0.0.1"),
            int(os.environ.get("PORT", "8000")),
        )
    )
