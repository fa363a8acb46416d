"""HTTP, KEYWORD and TCP probes (statusgraph/checks/probes/) against servers on loopback.

The targets are aiohttp servers the tests start, over plain HTTP and over TLS with
certificates from a `trustme` CA. The guard allows private networks here (loopback is
all there is); the refusal itself is tests/test_ssrf_guard.py's, and one case below
checks that a probe reports it as BLOCKED.
"""

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from statusgraph.checks.guard import ALLOW_SETTING, AddrInfo, Guard
from statusgraph.checks.probes import Failure
from statusgraph.checks.probes.http import HttpCheck, http_session, probe_http
from statusgraph.checks.probes.tcp import probe_tcp
from tests.helpers import StaticResolver

OPEN = Guard(allow_private=True)
BIG = b"x" * (1024 * 1024 + 10) + b"needle"


async def routes(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path == "/ok":
        return web.Response(text="All systems Operational")
    if path.startswith("/status/"):
        return web.Response(status=int(path.rsplit("/", 1)[1]), text="status")
    if path.startswith("/hops/"):
        left = int(path.rsplit("/", 1)[1])
        if left == 0:
            return web.Response(text="arrived")
        raise web.HTTPFound(f"/hops/{left - 1}")
    if path == "/echo":
        return web.Response(text=f"{request.method} {sorted(request.headers.items())!r}")
    if path == "/away":  # to the same server under another name: another origin
        raise web.HTTPFound(f"http://localhost:{request.url.port}/echo")
    if path == "/near":
        raise web.HTTPFound("/echo")
    if path == "/post-then-see-other":
        raise web.HTTPSeeOther("/echo")
    if path == "/slow":
        await asyncio.sleep(2)
        return web.Response(text="late")
    if path == "/big":
        return web.Response(body=BIG)
    if path == "/odd-charset":
        return web.Response(
            body="Opérationnel".encode(), headers={"Content-Type": "text/html; charset=nope-1"}
        )
    if path == "/broken":
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"partial")
        assert request.transport is not None
        request.transport.close()
        return response
    raise web.HTTPNotFound()


@dataclass
class Target:
    port: int
    tls_port: int
    ca: trustme.CA

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def tls_url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.tls_port}{path}"

    def trusting(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Target]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", routes)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context).start()
    (_, port), (_, tls_port) = runner.addresses[0], runner.addresses[1]
    try:
        yield Target(port, tls_port, ca)
    finally:
        await runner.cleanup()


async def run(check: HttpCheck, guard: Guard = OPEN, **session: Any) -> Any:
    async with http_session(guard, **session) as http:
        return await probe_http(http, check)


class TestHttp:
    async def test_a_200_is_up_with_its_phases(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.url("/ok", host="localhost")))
        assert (outcome.up, outcome.reason, outcome.status_code) == (True, "status 200", 200)
        assert {"resolve", "connect", "first_byte", "total"} <= set(outcome.phases)
        assert outcome.response_ms == outcome.phases["total"]

    @pytest.mark.parametrize(
        ("path", "expected", "up", "reason"),
        [
            ("/status/503", ((200, 399),), False, "status 503"),
            ("/status/404", ((200, 399),), False, "status 404"),
            ("/status/204", ((200, 200),), False, "status 204"),
            ("/status/418", ((200, 299), (418, 418)), True, "status 418"),
        ],
    )
    async def test_the_status_must_be_an_expected_one(
        self, target: Target, path: str, expected: Any, up: bool, reason: str
    ) -> None:
        outcome = await run(HttpCheck(target.url(path), expected=expected))
        assert (outcome.up, outcome.reason) == (up, reason)
        assert outcome.failure == (None if up else Failure.STATUS)

    async def test_redirects_are_followed_up_to_five(self, target: Target) -> None:
        assert (await run(HttpCheck(target.url("/hops/5")))).up
        too_many = await run(HttpCheck(target.url("/hops/6")))
        assert (too_many.failure, too_many.reason) == (Failure.PROTOCOL, "more than 5 redirects")
        unfollowed = await run(HttpCheck(target.url("/hops/6"), follow_redirects=False))
        assert (unfollowed.up, unfollowed.status_code) == (True, 302)

    async def test_credentials_are_not_sent_on_to_another_origin(self, target: Target) -> None:
        headers = {"X-Api-Key": "k-123", "Authorization": "Bearer t", "Accept": "text/plain"}
        near = await run(HttpCheck(target.url("/near"), headers=headers, keyword="k-123"))
        assert near.up  # the same origin: every header goes on
        away = await run(HttpCheck(target.url("/away"), headers=headers, keyword="text/plain"))
        assert away.up  # Accept went on to the other origin...
        for secret in ("k-123", "Bearer t"):  # ...the credentials did not
            leaked = await run(HttpCheck(target.url("/away"), headers=headers, keyword=secret))
            assert (leaked.up, leaked.reason) == (False, "keyword missing")

    async def test_a_see_other_after_a_post_is_followed_with_a_get(self, target: Target) -> None:
        check = HttpCheck(
            target.url("/post-then-see-other"), method="POST", body="{}", keyword="GET "
        )
        outcome = await run(check)
        assert (outcome.up, outcome.status_code) == (True, 200)

    @pytest.mark.parametrize(
        ("keyword", "present", "case_sensitive", "up", "reason"),
        [
            ("Operational", True, True, True, "status 200"),
            ("operational", True, True, False, "keyword missing"),
            ("operational", True, False, True, "status 200"),
            ("Outage", False, True, True, "status 200"),
            ("Operational", False, True, False, "keyword present"),
        ],
    )
    async def test_keywords(
        self,
        target: Target,
        keyword: str,
        present: bool,
        case_sensitive: bool,
        up: bool,
        reason: str,
    ) -> None:
        check = HttpCheck(
            target.url("/ok"),
            keyword=keyword,
            keyword_present=present,
            case_sensitive=case_sensitive,
        )
        outcome = await run(check)
        assert (outcome.up, outcome.reason) == (up, reason)
        assert outcome.failure == (None if up else Failure.KEYWORD)

    async def test_a_keyword_past_the_first_mib_is_not_found(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.url("/big"), keyword="needle"))
        assert (outcome.up, outcome.reason) == (False, "keyword missing")

    async def test_a_timeout_says_where_it_happened(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.url("/slow"), timeout=0.3))
        assert outcome.failure == Failure.TIMEOUT
        assert outcome.reason == "no answer within 0.3 s (waiting for the response)"

    async def test_a_refused_connection(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        outcome = await run(HttpCheck(f"http://127.0.0.1:{closed}/"))
        assert (outcome.failure, outcome.reason) == (
            Failure.CONNECT,
            f"connection to 127.0.0.1:{closed} refused",
        )

    async def test_a_name_that_does_not_resolve(self) -> None:
        class NoSuchName(aiohttp.abc.AbstractResolver):
            async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
                raise OSError(socket.EAI_NONAME, "Name or service not known")

            async def close(self) -> None:
                return None

        outcome = await run(HttpCheck("http://nowhere.invalid/"), resolver=NoSuchName())
        assert (outcome.failure, outcome.reason) == (
            Failure.DNS,
            "nowhere.invalid does not resolve: Name or service not known",
        )

    async def test_a_response_cut_short(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.url("/broken")))
        assert outcome.failure == Failure.PROTOCOL
        assert outcome.reason.startswith("the server broke off the response")

    async def test_the_guard_refusal_is_blocked_and_names_the_setting(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.url("/ok")), guard=Guard())
        assert outcome.failure == Failure.BLOCKED
        assert ALLOW_SETTING in outcome.reason


class TestOddInput:
    """What a server or a setting can throw at a probe comes back as an Outcome."""

    async def test_an_unknown_charset_is_read_as_utf8(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.url("/odd-charset"), keyword="Opérationnel"))
        assert (outcome.up, outcome.reason) == (True, "status 200")

    async def test_a_host_label_over_63_characters(self) -> None:
        outcome = await run(HttpCheck(f"http://{'a' * 64}.com/"))
        assert (outcome.failure, outcome.reason) == (
            Failure.DNS,
            "the URL's host is not a valid host name",
        )
        tcp = await probe_tcp(OPEN, f"{'a' * 64}.com", 80, seconds=5)
        assert tcp.failure == Failure.DNS

    async def test_a_header_that_cannot_be_sent(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.url("/ok"), headers={"X-Token": "a\r\nb"}))
        assert outcome.failure == Failure.PROTOCOL
        assert outcome.reason.startswith("the request cannot be sent: ")

    async def test_a_slow_resolver_times_out_while_resolving(self) -> None:
        class Stalls(StaticResolver):
            async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
                await asyncio.sleep(5)
                return []

        outcome = await run(
            HttpCheck("http://slow.example/", timeout=0.3), resolver=Stalls("127.0.0.1")
        )
        assert outcome.reason == "no answer within 0.3 s (while resolving)"

    async def test_a_tcp_timeout_leaves_no_socket_open(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A listener whose queue is full never answers: the probe times out, and the
        socket it was connecting with is closed then, not left to the garbage collector."""
        made: list[socket.socket] = []

        class Recorded(socket.socket):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        monkeypatch.setattr("statusgraph.checks.guard.socket.socket", Recorded)
        try:
            outcome = await probe_tcp(OPEN, "127.0.0.1", port, seconds=0.3)
        finally:
            monkeypatch.undo()
            for each in (*fillers, listener):
                each.close()
        assert outcome.failure == Failure.TIMEOUT
        assert made
        assert all(sock.fileno() == -1 for sock in made)


class TestTls:
    async def test_a_trusted_certificate_is_up(self, target: Target) -> None:
        outcome = await run(HttpCheck(target.tls_url("/ok")), ssl_context=target.trusting())
        assert (outcome.up, outcome.status_code) == (True, 200)

    async def test_an_untrusted_certificate_is_down_unless_verification_is_off(
        self, target: Target
    ) -> None:
        outcome = await run(HttpCheck(target.tls_url("/ok")))  # the system's CAs
        assert outcome.failure == Failure.TLS
        assert outcome.reason.startswith("TLS certificate rejected: ")
        assert "certificate" in outcome.reason.removeprefix("TLS certificate rejected: ")
        assert (await run(HttpCheck(target.tls_url("/ok"), verify_tls=False))).up

    async def test_a_certificate_for_another_name_is_down(self, target: Target) -> None:
        check = HttpCheck(target.tls_url("/ok", host="status.example"))
        outcome = await run(
            check, ssl_context=target.trusting(), resolver=StaticResolver("127.0.0.1")
        )
        assert outcome.failure == Failure.TLS
        assert "status.example" in outcome.reason or "hostname" in outcome.reason.lower()


class TestTcp:
    async def test_an_open_port_is_up_and_a_closed_one_refused(self, target: Target) -> None:
        outcome = await probe_tcp(OPEN, "127.0.0.1", target.port, seconds=5)
        assert (outcome.up, outcome.reason) == (True, "connected")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        refused = await probe_tcp(OPEN, "127.0.0.1", closed, seconds=5)
        assert (refused.failure, refused.reason) == (
            Failure.CONNECT,
            f"connection to 127.0.0.1:{closed} refused",
        )

    async def test_timeout_dns_and_the_guard(self, target: Target) -> None:
        async def stalls(host: str, port: int) -> Sequence[AddrInfo]:
            await asyncio.sleep(5)
            return []

        async def nxdomain(host: str, port: int) -> Sequence[AddrInfo]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        late = await probe_tcp(OPEN, "db.example", 5432, seconds=0.2, resolve=stalls)
        assert (late.failure, late.reason) == (
            Failure.TIMEOUT,
            "no connection to db.example:5432 within 0.2 s",
        )
        missing = await probe_tcp(OPEN, "db.example", 5432, seconds=5, resolve=nxdomain)
        assert (missing.failure, missing.reason) == (
            Failure.DNS,
            "db.example does not resolve: Name or service not known",
        )
        blocked = await probe_tcp(Guard(), "127.0.0.1", target.port, seconds=5)
        assert blocked.failure == Failure.BLOCKED
