"""Client addresses and web origins, as the checks compare them."""

from __future__ import annotations

import ipaddress
import urllib.parse

#: IPv6 clients are counted per ``/64``: one host usually holds a whole
#: ``/64`` and could otherwise try from a new address each time.
IPV6_PREFIX = 64

_DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(remote_addr: str | None) -> IPAddress | None:
    """Parse ``request.remote_addr``; an IPv4-mapped IPv6 address becomes
    the IPv4 address it maps, and a zone index (``fe80::1%eth0``) is
    dropped. Returns ``None`` for anything that is not an IP address.
    """
    if not remote_addr:
        return None

    try:
        address = ipaddress.ip_address(remote_addr.split("%", 1)[0])
    except ValueError:
        return None

    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped

    return address


def client_key(address: IPAddress) -> str:
    """The key attempts are counted under: the address for IPv4, its
    ``/64`` for IPv6.
    """
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))

    return str(address)


def normalize_origin(value: str) -> str | None:
    """Return ``scheme://host:port`` for an ``http`` or ``https`` origin,
    with the default port spelled out, or ``None`` if ``value`` is not
    one (such as the ``null`` origin of a sandboxed page or a file).
    """
    try:
        parts = urllib.parse.urlsplit(value.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None

    if scheme not in _DEFAULT_PORTS or not host:
        return None

    if port is None:
        port = _DEFAULT_PORTS[scheme]

    if ":" in host:
        host = f"[{host}]"

    return f"{scheme}://{host}:{port}"
