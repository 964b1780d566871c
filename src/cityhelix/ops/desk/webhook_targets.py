"""Where webhooks may be sent: never to this machine, its private network or a cloud's
metadata service (server-side request forgery), unless an operator lists the host in
`CITYHELIX_OPS_WEBHOOK_ALLOWED_HOSTS`.

Checked twice: when a subscription is made (a clear 400 naming `url`) and at every
connection the sender opens, on the very address it connects to. The second check is the
one that matters: a name that resolved to a public address yesterday may resolve to
127.0.0.1 today (DNS rebinding), so the sender's network backend resolves the name itself,
refuses non-public addresses and connects to the address it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from cityhelix.ops.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not connect to `address`, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for reason, applies in (
        ("loopback", address.is_loopback),
        ("link-local (cloud metadata services live there)", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if applies:
            return f"{address} is a {reason} address"
    if not address.is_global:  # e.g. 100.64.0.0/10, carrier-grade NAT
        return f"{address} is not a public address"
    return None


def is_allowed_host(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether the operator listed `host` (a name or an address, any case) as allowed."""
    wanted = host.strip("[]").rstrip(".").lower()
    return any(wanted == entry.strip("[]").rstrip(".").lower() for entry in allowed_hosts)


async def addresses_of(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to now (a literal address is itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # the scope of an IPv6 link-local address ("fe80::1%eth0") is not part of the address
    hosts = (str(info[4][0]).split("%")[0] for info in found)
    return list(dict.fromkeys(ipaddress.ip_address(host) for host in hosts))


async def public_addresses(host: str, port: int, allowed_hosts: Iterable[str]) -> list[IPAddress]:
    """The addresses a webhook may connect to for host:port; OSError saying why if none.

    A listed host may resolve anywhere; any other must resolve to public addresses only
    (one private address among public ones is refused too: which one a client picks is
    not ours to choose)."""
    try:
        addresses = await addresses_of(host, port)
    except (OSError, UnicodeError) as error:
        raise OSError(f"{host} does not resolve ({error})") from None
    if not addresses:
        raise OSError(f"{host} does not resolve")
    if is_allowed_host(host, allowed_hosts):
        return addresses
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise OSError(
                f"{host} resolves to {reason}; an operator may allow the host "
                "with CITYHELIX_OPS_WEBHOOK_ALLOWED_HOSTS"
            )
    return addresses


async def check_target(url: str, allowed_hosts: Iterable[str]) -> None:
    """400 naming `url` when a subscription's target may not be reached from here."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadRequest("url: the port is not a number from 0 to 65535", "url") from None
    if not parts.hostname:
        raise BadRequest("url: expected a host name", "url")
    try:
        await public_addresses(parts.hostname, port, allowed_hosts)
    except OSError as error:
        raise BadRequest(f"url: {error}", "url") from None


class CheckedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, but each TCP connection goes to an address checked just now."""

    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        self.allowed_hosts = tuple(allowed_hosts)
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await public_addresses(host, port, self.allowed_hosts)
        except OSError as error:
            raise httpcore.ConnectError(f"refused: {error}") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("refused: webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over `CheckedNetwork` (no proxy: a proxy would resolve for us)."""

    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        super().__init__()
        # httpx builds its pool without a way to pass the network backend: build it again
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=CheckedNetwork(allowed_hosts),
        )
