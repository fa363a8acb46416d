"""The SSRF guard (statusgraph/checks/guard.py, DESIGN §10), against real sockets.

Every target lives on loopback. To tell "public" from "private" there, some tests give
the guard a narrower policy: 127.0.0.1 stands for a public address and 127.0.0.2 (also
loopback on Linux) for a private one, so a redirect or a DNS answer that moves from
one to the other is refused where it is dialled.
"""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from statusgraph.checks.guard import (
    ALLOW_SETTING,
    AddrInfo,
    BlockedAddressError,
    Guard,
    IPAddress,
    refusal,
)
from tests.helpers import StaticResolver


def only_127_0_0_2(address: IPAddress) -> str | None:
    return "private" if str(address) == "127.0.0.2" else None


NARROW = Guard(refuse=only_127_0_0_2)


def addr(ip: str, port: int) -> AddrInfo:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return (family, socket.SOCK_STREAM, 6, "", (ip, port))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address under test)
        ("::", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8: an IPv6-only network's way out
        ("fec0::1", "site-local"),
        ("8.8.8.8", None),
        ("::ffff:8.8.8.8", None),
        ("2606:4700::1111", None),
    ],
)
def test_what_is_refused(address: str, kind: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind


async def serve(handler: Any, host: str) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    port: int = runner.addresses[0][1]
    try:
        yield port
    finally:
        await runner.cleanup()


@pytest.fixture
async def private_port() -> AsyncIterator[int]:
    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="inside")

    async for port in serve(ok, "127.0.0.2"):
        yield port


@pytest.fixture
async def public_port(private_port: int) -> AsyncIterator[int]:
    """A server on 127.0.0.1 whose /redirect sends the client to the private one."""

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/redirect":
            raise web.HTTPFound(f"http://127.0.0.2:{private_port}/")
        return web.Response(text="outside")

    async for port in serve(handler, "127.0.0.1"):
        yield port


def session(
    guard: Guard, resolver: aiohttp.abc.AbstractResolver | None = None
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(socket_factory=guard.socket_factory(), resolver=resolver)
    return aiohttp.ClientSession(connector=connector)


async def fetch(guard: Guard, url: str, resolver: Any = None) -> str:
    async with session(guard, resolver) as http, http.get(url) as response:
        return await response.text()


async def blocked_by(guard: Guard, url: str, resolver: Any = None) -> BlockedAddressError:
    with pytest.raises(aiohttp.ClientConnectorError) as raised:
        await fetch(guard, url, resolver)
    error = raised.value.os_error
    assert isinstance(error, BlockedAddressError), error
    return error


async def test_a_loopback_url_is_refused_unless_private_networks_are_allowed(
    public_port: int,
) -> None:
    error = await blocked_by(Guard(), f"http://127.0.0.1:{public_port}/")
    assert str(error) == (
        "127.0.0.1 is a loopback address; checks reach public addresses only unless "
        f"{ALLOW_SETTING}=true"
    )
    assert await fetch(Guard(allow_private=True), f"http://127.0.0.1:{public_port}/") == "outside"


async def test_a_name_is_checked_on_the_address_it_resolves_to(public_port: int) -> None:
    error = await blocked_by(Guard(), f"http://localhost:{public_port}/")
    assert error.kind == "loopback"


async def test_a_redirect_into_a_private_address_is_refused(public_port: int) -> None:
    assert await fetch(NARROW, f"http://127.0.0.1:{public_port}/") == "outside"
    error = await blocked_by(NARROW, f"http://127.0.0.1:{public_port}/redirect")
    assert str(error.address) == "127.0.0.2"


class Rebinding(StaticResolver):
    """DNS that answers a public address to the check at save time, then a private one."""

    async def as_addrinfo(self, host: str, port: int) -> Sequence[AddrInfo]:
        return [addr(self.next_address(), port)]


async def test_dns_that_changes_after_the_save_time_check_is_caught_at_connect(
    public_port: int, private_port: int
) -> None:
    dns = Rebinding("127.0.0.1", "127.0.0.2")
    await NARROW.check_target("status.example", private_port, resolve=dns.as_addrinfo)
    error = await blocked_by(NARROW, f"http://status.example:{private_port}/", dns)
    assert (error.host, str(error.address)) == ("127.0.0.2", "127.0.0.2")


class TestCheckTarget:
    async def test_literal_private_addresses_are_refused_with_the_setting_named(self) -> None:
        for host in ("127.0.0.1", "10.0.0.1", "[::1]", "169.254.169.254"):
            with pytest.raises(BlockedAddressError, match=ALLOW_SETTING):
                await Guard().check_target(host, 80)
        await Guard(allow_private=True).check_target("10.0.0.1", 80)

    async def test_a_name_resolving_only_to_private_addresses_is_refused(self) -> None:
        async def internal(host: str, port: int) -> Sequence[AddrInfo]:
            return [addr("10.0.0.7", port), addr("fd00::7", port)]

        with pytest.raises(BlockedAddressError) as raised:
            await Guard().check_target("db.internal", 5432, resolve=internal)
        assert raised.value.host == "db.internal"

    async def test_one_public_address_is_enough_and_an_unresolved_name_waits(self) -> None:
        async def mixed(host: str, port: int) -> Sequence[AddrInfo]:
            return [addr("10.0.0.7", port), addr("93.184.215.14", port)]

        async def nxdomain(host: str, port: int) -> Sequence[AddrInfo]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        await Guard().check_target("example.test", 443, resolve=mixed)
        await Guard().check_target("not-yet.example", 443, resolve=nxdomain)


class TestOpenConnection:
    async def test_tcp_connects_to_the_checked_address_only(
        self, public_port: int, private_port: int
    ) -> None:
        async def both(host: str, port: int) -> Sequence[AddrInfo]:
            return [addr("127.0.0.2", port), addr("127.0.0.1", port)]

        reader, writer = await NARROW.open_connection("site.example", public_port, resolve=both)
        writer.write(b"GET / HTTP/1.0\r\nHost: site.example\r\n\r\n")
        assert (await reader.read()).endswith(b"outside")
        writer.close()
        await writer.wait_closed()

        async def inside(host: str, port: int) -> Sequence[AddrInfo]:
            return [addr("127.0.0.2", port)]

        with pytest.raises(BlockedAddressError):
            await NARROW.open_connection("site.example", private_port, resolve=inside)

    async def test_tls_is_refused_before_any_handshake(self, private_port: int) -> None:
        with pytest.raises(BlockedAddressError):
            await Guard().open_connection(
                "127.0.0.2", private_port, ssl_context=ssl.create_default_context()
            )

    async def test_a_connection_error_is_the_error_of_the_address_tried(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]  # bound, never listening: refused

        async def loopback(host: str, port: int) -> Sequence[AddrInfo]:
            return [addr("127.0.0.1", port)]

        with pytest.raises(ConnectionRefusedError) as raised:
            await asyncio.wait_for(
                Guard(allow_private=True).open_connection("x", closed, resolve=loopback), 5
            )
        assert not isinstance(raised.value, BlockedAddressError)
