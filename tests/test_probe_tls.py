"""The SSL probe (statusgraph/checks/probes/tls.py) against TLS servers on loopback,
their certificates issued by a `trustme` CA the probe trusts (or, once, does not)."""

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme

from statusgraph.checks.guard import Guard
from statusgraph.checks.probes import Failure, Outcome
from statusgraph.checks.probes.tls import probe_tls

OPEN = Guard(allow_private=True)
NOW = datetime.now(UTC)

Serve = Callable[[trustme.LeafCert], Awaitable[int]]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(certificate: trustme.LeafCert) -> int:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)

        async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def localhost(port: int, ca: trustme.CA, **settings: Any) -> Outcome:
    """The probe of 127.0.0.1:port under the name localhost, trusting `ca`."""
    return await probe_tls(
        OPEN,
        "127.0.0.1",
        port,
        server_name="localhost",
        now=NOW,
        seconds=5,
        ssl_context=trusting(ca),
        **settings,
    )


async def test_a_valid_certificate_is_up_with_its_details(ca: trustme.CA, serve: Serve) -> None:
    expires = NOW + timedelta(days=90, hours=1)
    port = await serve(ca.issue_cert("localhost", common_name="localhost", not_after=expires))
    outcome = await localhost(port, ca)
    assert (outcome.up, outcome.reason) == (True, "certificate valid for 90 more days")
    assert outcome.certificate is not None
    assert outcome.certificate.subject == "localhost"
    # trustme's CA has no common name: the issuer is written out attribute by attribute.
    assert "organizationalUnitName=Testing CA" in outcome.certificate.issuer
    assert outcome.certificate.days_left == 90
    assert abs((outcome.certificate.not_after - expires).total_seconds()) < 1


@pytest.mark.parametrize(
    ("days", "threshold", "reason"),
    [
        (5, 14, "certificate expires in 5 days"),
        (1, 14, "certificate expires in 1 day"),
        (20, 30, "certificate expires in 20 days"),
    ],
)
async def test_a_certificate_expiring_within_the_threshold_is_down(
    ca: trustme.CA, serve: Serve, days: int, threshold: int, reason: str
) -> None:
    port = await serve(ca.issue_cert("localhost", not_after=NOW + timedelta(days=days, hours=1)))
    outcome = await localhost(port, ca, threshold_days=threshold)
    assert (outcome.up, outcome.failure, outcome.reason) == (False, Failure.CERTIFICATE, reason)
    assert outcome.certificate is not None
    assert outcome.certificate.days_left == days


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("expired", "certificate rejected: certificate has expired"),
        (
            "other name",
            "certificate rejected: Hostname mismatch, certificate is not valid for 'localhost'.",
        ),
        ("unknown issuer", "certificate rejected: unable to get local issuer certificate"),
    ],
)
async def test_an_invalid_certificate_is_down_with_openssls_reason(
    ca: trustme.CA, serve: Serve, case: str, message: str
) -> None:
    if case == "expired":
        leaf = ca.issue_cert(
            "localhost", not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1)
        )
    elif case == "other name":
        leaf = ca.issue_cert("status.example")
    else:
        leaf = trustme.CA().issue_cert("localhost")
    port = await serve(leaf)
    outcome = await localhost(port, ca)
    assert (outcome.up, outcome.failure, outcome.reason) == (False, Failure.TLS, message)
    assert outcome.certificate is None


async def test_no_tls_on_the_port_and_a_refused_port(ca: trustme.CA) -> None:
    async def plain(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await probe_tls(OPEN, "127.0.0.1", port, now=NOW, seconds=5)
    finally:
        server.close()
        await server.wait_closed()
    assert outcome.failure == Failure.TLS
    assert outcome.reason.startswith("TLS handshake failed: ")
    refused = await probe_tls(OPEN, "127.0.0.1", port, now=NOW, seconds=5)
    assert (refused.failure, refused.reason) == (
        Failure.CONNECT,
        f"connection to 127.0.0.1:{port} refused",
    )
    blocked = await probe_tls(Guard(), "127.0.0.1", port, now=NOW, seconds=5)
    assert blocked.failure == Failure.BLOCKED


async def test_a_server_that_never_closes_does_not_hold_the_probe(ca: trustme.CA) -> None:
    """The handshake completes, then the server never reads again, so TLS's close is
    never answered (asyncio's own servers would answer it): the probe ends on its own
    time, not on asyncio's 30-second close timeout."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    done = threading.Event()

    def handshake_then_nothing() -> None:
        connection, _ = listener.accept()
        with context.wrap_socket(connection, server_side=True):
            done.wait(30)

    server = threading.Thread(target=handshake_then_nothing, daemon=True)
    server.start()
    started = time.perf_counter()
    try:
        outcome = await localhost(port, ca)
    finally:
        done.set()
        server.join(5)
        listener.close()
    assert outcome.up
    assert time.perf_counter() - started < 3
