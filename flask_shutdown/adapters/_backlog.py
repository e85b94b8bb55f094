"""Reading a listening socket's accept queue, for servers whose queued
connections are reset when they stop.
"""

from __future__ import annotations

import logging
import socket
import struct
import time

logger = logging.getLogger(__name__)

#: How often the accept queue is read, and how many empty reads in a row
#: mean it has drained.
_POLL_INTERVAL = 0.02
_EMPTY_POLLS = 3


def wait_backlog_empty(listeners: list[socket.socket], timeout: float) -> bool:
    """Wait until no connection waits in the accept queue of any of
    ``listeners``, at most ``timeout`` seconds. Returns whether it drained.
    """
    deadline = time.monotonic() + timeout
    empty = 0

    while time.monotonic() < deadline:
        empty = empty + 1 if sum(map(backlog, listeners)) == 0 else 0

        if empty >= _EMPTY_POLLS:
            return True

        time.sleep(_POLL_INTERVAL)

    logger.warning(
        "The accept queue did not drain within %.1f s; connections still"
        " waiting in it will be reset.",
        timeout,
    )
    return False


def backlog(sock: socket.socket) -> int:
    """The number of connections waiting in a listening TCP socket's accept
    queue (``tcpi_unacked`` of ``TCP_INFO`` on Linux), or 0 if unknown.
    """
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except (OSError, AttributeError):
        return 0

    return int(struct.unpack("B" * 8 + "I" * 24, info)[12])
