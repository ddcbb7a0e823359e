"""Where a download may go: http(s) hosts with public addresses, unless the API itself is local.

A render's download link comes from the backend, so it is untrusted: fetching it must not reach
this computer's or the local network's services (blind SSRF). The rule:

- the API's own origin is always fine (the token goes there anyway);
- any other host is resolved, and every address it resolves to must be public: not loopback,
  link-local (cloud metadata), private, shared, reserved, multicast or unspecified. IPv4-mapped
  IPv6 addresses count as the IPv4 address they carry;
- unless the API itself resolves to such an address (the emulator, a self-hosted backend on the
  LAN): then the backend is already local and its links may be too.

Each redirect hop is checked the same way, and after connecting, the address actually reached is
checked again (so a name that resolves differently the second time gains nothing) before a byte
of the body is read.
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from typing import Any

import anyio
import httpx

from nemo_mcp.addresses import non_public, parse
from nemo_mcp.errors import DownloadError

log = logging.getLogger(__name__)

_HINT = (
    "nemo-mcp downloads renders only from public hosts (unless NEMO_API_URL itself is on this "
    "computer or the local network). Export again for a fresh link; if NemoVideo keeps sending "
    "this one, report it."
)


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (empty when it does not resolve)."""
    literal = parse(host)
    if literal is not None:
        return [str(literal)]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def _proxied() -> bool:
    """Whether an environment proxy may carry downloads (then the peer is the proxy)."""
    proxies = urllib.request.getproxies()
    return any(key in proxies for key in ("http", "https", "all"))


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


class AddressGuard:
    """Checks download URLs and connections against the rule in the module docstring."""

    def __init__(self, api_url: str) -> None:
        self._api = httpx.URL(api_url)
        self._api_local: bool | None = None

    def same_origin(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, _port(url)) == (
            self._api.scheme,
            self._api.host,
            _port(self._api),
        )

    async def api_is_local(self) -> bool:
        """Whether the API itself is on a non-public address (resolved once)."""
        if self._api_local is None:
            addresses = await resolve(self._api.host, _port(self._api))
            ips = [ip for ip in (parse(a) for a in addresses) if ip is not None]
            self._api_local = any(non_public(ip) for ip in ips)
        return self._api_local

    def _refuse(self, url: httpx.URL, address: str, kind: str) -> DownloadError:
        shown = url.host if url.host == address else f"{url.host} ({address})"
        return DownloadError(
            f"The download link points at {shown}, a {kind} address; it was not fetched.",
            hint=_HINT,
        )

    async def check_url(self, url: httpx.URL) -> None:
        """Refuse ``url`` (one hop) unless its scheme and resolved addresses are allowed."""
        if url.scheme not in ("http", "https") or not url.host:
            raise DownloadError(
                "The download link is not an http(s) address; it was not fetched.", hint=_HINT
            )
        if self.same_origin(url) or await self.api_is_local():
            return
        for address in await resolve(url.host, _port(url)):
            ip = parse(address)
            kind = non_public(ip) if ip is not None else "unknown"
            if kind:
                raise self._refuse(url, address, kind)

    async def check_peer(self, url: httpx.URL, response: httpx.Response) -> None:
        """Refuse a connection that reached a non-public address (before reading the body)."""
        if self.same_origin(url) or await self.api_is_local() or _proxied():
            return
        stream: Any = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if not peer:
            return  # not a socket (an in-process transport): nothing was reached
        ip = parse(str(peer[0]))
        kind = non_public(ip) if ip is not None else None
        if kind:
            raise self._refuse(url, str(peer[0]), kind)
