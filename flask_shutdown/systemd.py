"""systemd's ``sd_notify`` protocol, for :func:`~flask_shutdown.serve` run
as a ``Type=notify`` service.

When systemd starts a ``Type=notify`` service it sets ``NOTIFY_SOCKET``
to a datagram socket and waits for ``READY=1`` before it counts the
service as started; ``STOPPING=1`` tells it a stop is under way, and
``STATUS=`` lines show in ``systemctl status``. The protocol is one
datagram per message on that socket, a few lines of the standard library:
no dependency is worth taking for it.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)

#: The environment variable systemd sets for ``Type=notify`` services.
SOCKET_ENV = "NOTIFY_SOCKET"


def notify(*lines: str) -> bool:
    """Send ``lines`` as one message to systemd, when ``NOTIFY_SOCKET`` is
    set. Returns whether it was sent; a failure is logged, never raised.
    """
    address = os.environ.get(SOCKET_ENV)

    if not address:
        return False

    if address.startswith("@"):
        # An abstract socket: its name starts with a NUL byte.
        address = "\0" + address[1:]

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
    except OSError as e:
        logger.warning("Could not notify systemd through %s: %s", address, e)
        return False

    return True
