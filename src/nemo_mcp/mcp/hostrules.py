"""Which ``Host`` and ``Origin`` headers ``serve --http`` answers (DNS-rebinding protection).

The rule: the loopback names always (``127.0.0.1``, ``localhost``, ``[::1]`` on the served
port); plus the address the server is bound to when that is a specific address; plus, when it
is bound to every interface (``0.0.0.0`` / ``::``), this machine's own names and addresses (its
host name, fully qualified name and the addresses they resolve to, and the address it reaches
other machines from); plus every ``--allowed-host`` given (a name or address, optionally with a
port; without one, any port: a reverse proxy usually sends its own). Anything else gets 421, and
a browser ``Origin`` that is not one of these hosts gets 403.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence

from mcp.server.transport_security import TransportSecuritySettings

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD = ("0.0.0.0", "::", "[::]", "")


def endpoint(host: str, port: int) -> str:
    """The MCP URL a client on this machine uses for a server bound to ``host``: a wildcard
    bind (0.0.0.0, ::) is reached at the loopback address (and this machine's others)."""
    bare = host.strip("[]")
    if bare in _WILDCARD:
        loopback = "[::1]" if bare == "::" else "127.0.0.1"
        return f"http://{loopback}:{port}/mcp (and at this machine's other addresses)"
    return f"http://{_bracketed(bare)}:{port}/mcp"


def _bracketed(host: str) -> str:
    """An IPv6 address as it appears in a Host header (``[::1]``); anything else unchanged."""
    bare = host.strip("[]")
    try:
        if ipaddress.ip_address(bare.split("%", 1)[0]).version == 6:
            return f"[{bare}]"
    except ValueError:
        pass
    return host


def _own_names() -> list[str]:
    """This machine's names and the addresses others may reach it by (best effort)."""
    names: list[str] = []
    try:
        hostname = socket.gethostname()
    except OSError:
        return names
    names.append(hostname)
    try:
        names.append(socket.getfqdn())
    except OSError:
        pass
    for name in list(names):
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError:
            continue
        names.extend(str(info[4][0]) for info in infos)
    # the source address of a route to a documentation address (no packet is sent)
    probes = ((socket.AF_INET, ("192.0.2.1", 9)), (socket.AF_INET6, ("2001:db8::1", 9)))
    for family, target in probes:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect(target)
                names.append(str(probe.getsockname()[0]))
        except OSError:
            continue
    return names


def allowed_hosts(bind: str, port: int, extra: Iterable[str] = ()) -> list[str]:
    """The ``Host`` header values to accept (``name:*`` = any port)."""
    hosts = [f"{h}:{port}" for h in _LOOPBACK]
    if bind in _WILDCARD:
        hosts += [f"{_bracketed(n)}:{port}" for n in _own_names()]
    elif bind.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
        hosts.append(f"{_bracketed(bind)}:{port}")
    for value in extra:
        value = value.strip()
        if not value:
            continue
        has_port = "]:" in value if value.startswith("[") else value.count(":") == 1
        if has_port:
            hosts.append(value)
        else:  # a name or address alone: on any port
            hosts += [_bracketed(value), f"{_bracketed(value)}:*"]
    return list(dict.fromkeys(h for h in hosts if h and not h.startswith(":")))


def security_settings(bind: str, port: int, extra: Sequence[str] = ()) -> TransportSecuritySettings:
    hosts = allowed_hosts(bind, port, extra)
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
