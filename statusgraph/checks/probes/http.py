"""HTTP and KEYWORD probes over aiohttp (chosen by measurement: bench/README.md).

One session per checker, its connector dialling through the SSRF guard's socket
factory and opening a fresh connection per check (`force_close`): a check measures
resolving, connecting and the TLS handshake as a visitor would, not a warm pool.
Resolutions are cached by the connector for `ttl_dns_cache` seconds. The phases come
from aiohttp's trace hooks, so a timeout says where it happened.
"""

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from statusgraph.checks.guard import BlockedAddressError, Guard
from statusgraph.checks.probes import Failure, Outcome, down
from statusgraph.resolvers.monitor_secrets import SENSITIVE

MAX_REDIRECTS = 5
KEYWORD_BYTES = 1024 * 1024  # a keyword is looked for in the first MiB of the body
DEFAULT_EXPECTED = ((200, 399),)


@dataclass(frozen=True, slots=True)
class HttpCheck:
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expected: Sequence[tuple[int, int]] = DEFAULT_EXPECTED  # inclusive status ranges
    follow_redirects: bool = True
    verify_tls: bool = True
    timeout: float = 10.0
    keyword: str | None = None
    keyword_present: bool = True  # False: DOWN when the keyword is found
    case_sensitive: bool = True


def _tracing() -> aiohttp.TraceConfig:
    """Records when each phase starts and ends in the request's trace context."""
    trace = aiohttp.TraceConfig()

    def mark(name: str) -> Any:
        async def hook(_session: Any, context: SimpleNamespace, _params: Any) -> None:
            # Requests that are not checks (RDAP lookups) carry no marks to fill.
            marks = getattr(context.trace_request_ctx, "marks", None)
            if marks is not None:
                marks.setdefault(name, time.perf_counter())

        return hook

    trace.on_dns_resolvehost_start.append(mark("resolve_start"))
    trace.on_dns_resolvehost_end.append(mark("resolve_end"))
    trace.on_connection_create_start.append(mark("connect_start"))
    trace.on_connection_create_end.append(mark("connect_end"))
    trace.on_request_headers_sent.append(mark("headers_sent"))
    return trace


def http_session(
    guard: Guard,
    *,
    concurrency: int = 100,
    ssl_context: ssl.SSLContext | None = None,
    resolver: aiohttp.abc.AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """`ssl_context`: whom to trust, the system's CAs by default; `resolver`: aiohttp's
    own by default (tests give theirs)."""
    connector = aiohttp.TCPConnector(
        socket_factory=guard.socket_factory(),
        force_close=True,
        limit=concurrency,
        ssl=ssl_context if ssl_context is not None else True,
        resolver=resolver,
    )
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=[_tracing()],
        auto_decompress=True,
        headers={"User-Agent": "statusgraph-check/1"},
    )


def _phases(marks: dict[str, float], started: float, ended: float) -> dict[str, float]:
    def span(start: str, end: str) -> float | None:
        if start in marks and end in marks:
            return (marks[end] - marks[start]) * 1000
        return None

    # aiohttp starts "connection create" before it resolves the name: the connect
    # phase starts once the name is resolved (or at once, from its DNS cache).
    if "resolve_end" in marks:
        marks = {**marks, "connect_start": marks["resolve_end"]}
    found = {
        "resolve": span("resolve_start", "resolve_end"),
        "connect": span("connect_start", "connect_end"),
        "first_byte": span("headers_sent", "headers_received"),
    }
    phases = {name: value for name, value in found.items() if value is not None}
    phases["total"] = (ended - started) * 1000
    return phases


def _where(marks: dict[str, float]) -> str:
    if "resolve_start" in marks and "resolve_end" not in marks:
        return "while resolving"
    if "connect_end" not in marks:
        return "while connecting"
    if "headers_received" not in marks:
        return "waiting for the response"
    return "reading the response"


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to `limit` bytes of the body; raises ClientPayloadError if it was cut short."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    broken = content.exception()
    if broken is not None:
        raise broken
    return b"".join(chunks)


def _expected(status: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(low <= status <= high for low, high in ranges)


REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def _follow(
    session: aiohttp.ClientSession, check: HttpCheck, marks: dict[str, float]
) -> tuple[int, str]:
    """The final answer's status and text (its first MiB), redirects followed here rather
    than by aiohttp: on a redirect to another origin the headers that carry credentials
    (monitor_secrets.SENSITIVE: aiohttp would drop Authorization only) are not sent on,
    so a redirect cannot hand a monitor's API key to another site. Every hop dials
    through the guard's socket factory."""
    method, url, body = check.method, URL(check.url), check.body
    headers = dict(check.headers)
    for hop in range(MAX_REDIRECTS + 1):
        async with session.request(
            method,
            url,
            headers=headers,
            data=body,
            allow_redirects=False,
            # True verifies with the session's context (the system's CAs by default).
            ssl=check.verify_tls,
            trace_request_ctx=SimpleNamespace(marks=marks),
        ) as response:
            location = response.headers.get("Location")
            if check.follow_redirects and response.status in REDIRECTS and location:
                if hop == MAX_REDIRECTS:
                    raise aiohttp.TooManyRedirects(response.request_info, ())
                following = url.join(URL(location))
                if following.scheme not in ("http", "https"):
                    raise aiohttp.InvalidURL(following)
                if following.origin() != url.origin():
                    headers = {k: v for k, v in headers.items() if not SENSITIVE.search(k)}
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, body = ("HEAD" if method == "HEAD" else "GET"), None
                url = following
                continue
            marks["headers_received"] = time.perf_counter()
            # The answer is read, up to the bound: a body cut short is a failure, and
            # the keyword is looked for in it.
            raw = await _read_at_most(response.content, KEYWORD_BYTES)
            return response.status, _decode(raw, response.charset)
    raise AssertionError("unreachable: the last hop returns or raises")


async def probe_http(session: aiohttp.ClientSession, check: HttpCheck) -> Outcome:
    marks: dict[str, float] = {}
    started = time.perf_counter()
    status: int | None = None
    try:
        async with asyncio.timeout(check.timeout):
            status, text = await _follow(session, check, marks)
    except TimeoutError:
        return down(
            Failure.TIMEOUT,
            f"no answer within {check.timeout:g} s ({_where(marks)})",
            phases=_phases(marks, started, time.perf_counter()),
        )
    except aiohttp.ClientConnectorDNSError as error:
        return down(
            Failure.DNS,
            f"{error.host} does not resolve: {error.os_error.strerror or error.os_error}",
        )
    except aiohttp.ClientConnectorCertificateError as error:
        certificate = error.certificate_error
        detail = getattr(certificate, "verify_message", None) or str(certificate)
        return down(Failure.TLS, f"TLS certificate rejected: {detail}")
    except aiohttp.ClientSSLError as error:
        return down(Failure.TLS, f"TLS handshake failed: {error}")
    except aiohttp.ClientConnectorError as error:
        if isinstance(error.os_error, BlockedAddressError):
            return down(Failure.BLOCKED, str(error.os_error))
        if isinstance(error.os_error, ConnectionRefusedError):
            return down(Failure.CONNECT, f"connection to {error.host}:{error.port} refused")
        cause = error.os_error.strerror or error.os_error
        return down(Failure.CONNECT, f"cannot connect to {error.host}:{error.port}: {cause}")
    except aiohttp.TooManyRedirects:
        return down(Failure.PROTOCOL, f"more than {MAX_REDIRECTS} redirects")
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as error:
        return down(Failure.PROTOCOL, f"the server broke off the response: {error}")
    except aiohttp.ClientError as error:
        return down(Failure.PROTOCOL, f"HTTP error: {error}")
    except ssl.SSLError as error:
        return down(Failure.TLS, f"TLS error: {error.reason or error}")
    except UnicodeError:  # a label over 63 characters: no DNS query can carry it
        return down(Failure.DNS, "the URL's host is not a valid host name")
    except ValueError as error:  # settings aiohttp refuses to send (CR/LF in a header)
        return down(Failure.PROTOCOL, f"the request cannot be sent: {error}")
    ended = time.perf_counter()
    phases = _phases(marks, started, ended)
    details: dict[str, Any] = {
        "status_code": status,
        "response_ms": phases["total"],
        "phases": phases,
    }
    if not _expected(status, check.expected):
        return down(Failure.STATUS, f"status {status}", **details)
    if check.keyword is not None:
        keyword, haystack = check.keyword, text
        if not check.case_sensitive:
            keyword, haystack = keyword.casefold(), haystack.casefold()
        found = keyword in haystack
        if found != check.keyword_present:
            reason = "keyword missing" if check.keyword_present else "keyword present"
            return down(Failure.KEYWORD, reason, **details)
    return Outcome(up=True, reason=f"status {status}", **details)
