"""The SSRF guard (DESIGN §10): outgoing connections reach public addresses only.

A check (and later a webhook) dials a URL a tenant typed. Without a guard that is a
way into the server's own network: the cloud metadata service at 169.254.169.254, a
database on 10.0.0.5, an admin port on 127.0.0.1. The address is checked where it is
dialled, at socket creation, so that no name that resolves one way when checked and
another way when connected (DNS rebinding), no literal IP in a URL, and no redirect can
get round it: `Guard.socket_factory` is handed to the HTTP client's connector (aiohttp
calls it with each address it is about to connect to), and `Guard.open_connection`
does the same for TCP and TLS probes. `Guard.check_target` refuses what is visibly
refused when a monitor is saved, so a typo'd `http://localhost` says so at once.

Self-hosters who monitor their own network set
STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS=true; the refusal names the setting.
"""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

ALLOW_SETTING = "STATUSGRAPH_CHECKS_ALLOW_PRIVATE_NETWORKS"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# (family, type, proto, canonname, sockaddr), as getaddrinfo returns and aiohttp passes.
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
Resolve = Callable[[str, int], Awaitable[Sequence[AddrInfo]]]


class BlockedAddressError(ConnectionRefusedError):
    """An OSError, so HTTP clients report it as the connection error it stands for."""

    def __init__(self, host: str, address: IPAddress, kind: str) -> None:
        self.host, self.address, self.kind = host, address, kind
        shown = host if host == str(address) else f"{host} ({address})"
        super().__init__(
            f"{shown} is a {kind} address; checks reach public addresses only unless "
            f"{ALLOW_SETTING}=true"
        )


def refusal(address: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address written as IPv6 is judged as the IPv4 address it reaches:
        # mapped, 6to4, or NAT64's well-known prefix (RFC 6052), which DNS64 hands out
        # for IPv4-only sites on IPv6-only networks.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
        if address.is_site_local:
            return "site-local"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "non-public"  # shared (100.64/10), documentation, benchmarking ranges
    return None


@dataclass(frozen=True, slots=True)
class Guard:
    """The policy for one process: `allow_private` is the setting; `refuse` says what
    kind of address is refused (tests narrow it to tell two loopback addresses apart)."""

    allow_private: bool = False
    refuse: Callable[[IPAddress], str | None] = refusal

    def check(self, host: str, address: IPAddress) -> None:
        if self.allow_private:
            return
        kind = self.refuse(address)
        if kind is not None:
            raise BlockedAddressError(host, address, kind)

    def socket_factory(self) -> Callable[[AddrInfo], socket.socket]:
        """For aiohttp's TCPConnector(socket_factory=...): refuses to make a socket for
        a non-public address, so the connection attempt fails with BlockedAddressError,
        whatever name, redirect or literal led there."""

        def make(addr_info: AddrInfo) -> socket.socket:
            family, type_, proto, _, sockaddr = addr_info
            self.check(str(sockaddr[0]), ipaddress.ip_address(sockaddr[0]))
            return socket.socket(family=family, type=type_, proto=proto)

        return make

    async def check_target(self, host: str, port: int, resolve: Resolve | None = None) -> None:
        """Refuses, when a monitor is saved, a host that is or resolves only to
        non-public addresses. A name that does not resolve (yet) is accepted: the check
        will say so when it runs."""
        if self.allow_private:
            return
        literal = literal_address(host)
        if literal is not None:
            self.check(host, literal)
            return
        try:
            found = await (resolve or system_resolve)(host, port)
        except (OSError, UnicodeError):  # the host's syntax is the validators' concern
            return
        refused: BlockedAddressError | None = None
        for *_, sockaddr in found:
            try:
                self.check(host, ipaddress.ip_address(sockaddr[0]))
                return  # one public address is enough to be worth checking
            except BlockedAddressError as error:
                refused = error
        if refused is not None:
            raise refused

    async def open_connection(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        resolve: Resolve | None = None,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """asyncio.open_connection to the first public address `host` resolves to,
        checked and dialled as the same address (TCP and TLS probes)."""
        found = await (resolve or system_resolve)(host, port)
        errors: list[OSError] = []
        for family, type_, proto, _, sockaddr in found:
            try:
                self.check(host, ipaddress.ip_address(sockaddr[0]))
            except BlockedAddressError as error:
                errors.append(error)
                continue
            sock = socket.socket(family=family, type=type_, proto=proto)
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, sockaddr)
            except OSError as error:
                sock.close()
                errors.append(error)
                continue
            except BaseException:  # cancelled (the probe's time is up): no socket leaks
                sock.close()
                raise
            return await asyncio.open_connection(
                sock=sock,
                ssl=ssl_context,
                server_hostname=(server_hostname or host) if ssl_context is not None else None,
            )
        if errors:
            raise errors[0]
        raise OSError(f"{host} did not resolve to any address")


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


async def system_resolve(host: str, port: int) -> Sequence[AddrInfo]:
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(f, t, p, c, tuple(a)) for f, t, p, c, a in found]
