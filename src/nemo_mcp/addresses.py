"""IP addresses and host names: which are loopback, which are public. Pure; no I/O.

Used by the download guard (links from the backend must point at public hosts), by ``nemo-mcp
serve`` (refusing to listen beyond this computer unless told) and by the emulator (its control
API answers loopback clients only).
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOCAL_NAMES: Final = ("localhost", "localhost.localdomain")


def parse(text: str) -> IPAddress | None:
    """The address written in ``text`` ("[::1]", "fe80::1%eth0", "::ffff:10.0.0.1" count as the
    address they carry), or None when it is a host name."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def non_public(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is ("loopback", "private"...), or None if public."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 (in any spelling) and the names of this computer ("localhost");
    a host name is not resolved."""
    if not host:
        return False
    if host.lower() in LOCAL_NAMES:
        return True
    ip = parse(host)
    return ip is not None and ip.is_loopback
