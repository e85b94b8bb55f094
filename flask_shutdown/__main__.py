"""``python -m flask_shutdown``: the ``flask shutdown`` commands without the
``flask`` executable, for images and hosts where only Python is at hand
(a slim container's ``preStop`` hook, a systemd ``ExecStop=``)."""

from __future__ import annotations

from .cli import shutdown_command

if __name__ == "__main__":
    shutdown_command(prog_name="python -m flask_shutdown")
