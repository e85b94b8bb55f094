"""Checks made before any credential is looked at."""

from __future__ import annotations

import ipaddress
import typing as t

from .errors import json_error

if t.TYPE_CHECKING:
    from flask import Request
    from flask import Response

    from .config import ShutdownConfig


class Guard:
    """Refuses requests from outside ``SHUTDOWN_ALLOWED_NETWORKS``.

    :param config: The app's resolved config.
    """

    def __init__(self, config: ShutdownConfig) -> None:
        self.config = config

    def check(self, request: Request) -> Response | None:
        """Return a refusal, or ``None`` to go on to authentication."""
        if not self._allowed(request.remote_addr):
            return json_error(
                403,
                "forbidden_network",
                "Requests from this address may not use the shutdown endpoint."
                " Add its network to SHUTDOWN_ALLOWED_NETWORKS to allow it.",
            )

        return None

    def _allowed(self, remote_addr: str | None) -> bool:
        if not remote_addr:
            return False

        try:
            address = ipaddress.ip_address(remote_addr.split("%", 1)[0])
        except ValueError:
            return False

        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped

        return any(address in network for network in self.config.allowed_networks)
