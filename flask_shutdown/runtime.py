"""Runtime files: how ``flask shutdown list`` and ``flask shutdown stop``
find the local servers and stop them with no URL or token typed, as
``jupyter server list`` and ``jupyter server stop`` do.

A :class:`~flask_shutdown.ServerThread` (so :func:`~flask_shutdown.serve`
too) or ``flask run`` serving an app whose endpoint is exposed writes one
small JSON file
while it runs, in a ``servers`` folder of the user's runtime directory
(the same private folder as the shared state, see :mod:`.shared`): its
pid, URL, endpoint path, the app's import name, its start time, and a
token made for this run, which only that file holds and which the app
accepts as ``token:local``. The file has owner-only permissions, is
removed when the server stops, and the files of processes that have
gone are ignored and removed by the next reader.
``SHUTDOWN_RUNTIME_FILE = False`` turns it off.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import gc
import json
import os
import secrets
import sys
import threading
import time
import typing as t
from pathlib import Path

from .shared import private_dir
from .shared import process_alive
from .shared import runtime_dir


def servers_dir() -> Path:
    """The folder of the runtime files, private to this user.

    :raises OSError: It cannot be made, or is not private.
    """
    return private_dir(runtime_dir() / "servers")


def new_token() -> str:
    """A token for one run of one server."""
    return secrets.token_urlsafe(32)


def write(
    *, url: str, path: str, name: str, token: str, pid: int | None = None
) -> Path:
    """Write the runtime file of a server that has started.

    :returns: The file, to :func:`remove` at stop.
    """
    pid = os.getpid() if pid is None else pid
    port = url.rsplit(":", 1)[1]
    data = {
        "pid": pid,
        "url": url,
        "path": path,
        "name": name,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "token": token,
    }
    target = servers_dir() / f"{pid}-{port}.json"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)

    with os.fdopen(fd, "w") as f:
        json.dump(data, f)

    return target


def remove(target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        target.unlink()


def read_all() -> list[dict[str, t.Any]]:
    """The servers that run now, oldest first. Files of processes that
    have gone are removed; files not private to the user are refused.

    :raises PermissionError: A file or the folder is not private.
    """
    rv = []

    for target in sorted(servers_dir().glob("*.json")):
        info = os.lstat(target)

        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise PermissionError(
                f"{target} is readable by other users; it is not used. Remove it."
            )

        try:
            data = json.loads(target.read_text())
        except (OSError, ValueError):
            continue

        if not isinstance(data, dict) or not process_alive(int(data.get("pid", 0))):
            remove(target)
            continue

        data["file"] = str(target)
        rv.append(data)

    return sorted(rv, key=lambda d: str(d.get("started")))


#: How long ``flask run`` is looked for after the app is set up.
WERKZEUG_SEARCH_TIMEOUT = 15.0


def watch_werkzeug_server(write: t.Callable[[str], Path | None]) -> None:
    """Under ``flask run``, find Werkzeug's server in this process once it
    listens, write the runtime file with ``write(url)``, and remove the
    file when the process exits. A daemon thread looks a few times a
    second, for a few seconds; a ``flask`` command that serves nothing
    (``flask shutdown token``) finds nothing and writes nothing.
    """

    def find() -> None:
        deadline = time.monotonic() + WERKZEUG_SEARCH_TIMEOUT

        while time.monotonic() < deadline:
            serving = sys.modules.get("werkzeug.serving")
            servers = (
                []
                if serving is None
                else [
                    o for o in gc.get_objects() if isinstance(o, serving.BaseWSGIServer)
                ]
            )

            for server in servers:
                host, port = server.server_address[:2]

                if host in ("0.0.0.0", "", "::"):
                    host = "127.0.0.1"

                if ":" in host:
                    host = f"[{host}]"

                scheme = "https" if server.ssl_context is not None else "http"
                target = write(f"{scheme}://{host}:{port}")

                if target is not None:
                    atexit.register(remove, target)

                return

            time.sleep(0.2)

    threading.Thread(target=find, name="flask-shutdown-runtime", daemon=True).start()
