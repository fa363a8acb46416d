"""How deliveries leave: HTTP POSTs through the SSRF guard (checks/guard.py), mails
through SMTP (mail.py), and the outcome of each as a line of the delivery log."""

import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from statusgraph.checks.guard import BlockedAddressError, Guard
from statusgraph.notifications import mail
from statusgraph.notifications.mail import SmtpServer

EXCERPT_BYTES = 1024  # of a receiver's answer, kept in the delivery log
ERROR_CHARS = 500
USER_AGENT = "statusgraph-webhook/1"
KEPT_CONNECTIONS = 100  # at once, over every receiver
KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt as the delivery log keeps it."""

    succeeded: bool
    duration_ms: int
    status_code: int | None = None
    error_class: str | None = None  # dns | connect | tls | timeout | status | blocked | smtp...
    error: str | None = None
    response_excerpt: str | None = None


def failed(started: float, error_class: str, error: str) -> Attempt:
    return Attempt(False, _ms_since(started), error_class=error_class, error=error[:ERROR_CHARS])


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


class Transport:
    """What the integrations send with: one HTTP session for the process, the SMTP
    server if one is configured, the timeout.

    Unlike the checks, which dial afresh every time because a check measures the
    connection, deliveries keep connections alive: a receiver that takes thousands of
    webhooks a minute is sent them over a few connections rather than one TCP (and TLS)
    handshake each, about a quarter of the CPU a request (bench/http_clients.py). The
    SSRF guard still sees every address dialled, in the socket factory: a kept-alive
    connection only ever goes to an address it allowed."""

    def __init__(
        self,
        guard: Guard,
        *,
        timeout: float,
        base_url: str,
        smtp: SmtpServer | None = None,
        smtp_from: str = "statusgraph <statusgraph@localhost>",
        smtp_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`smtp`: parsed when the process starts (config.Settings.smtp_url), so a bad URL
        stops it there rather than failing every mail; `ssl_context`: whom to trust, the
        system's CAs by default (tests give one that trusts their servers)."""
        self.guard = guard
        self.timeout = timeout
        self.base_url = base_url.rstrip("/")
        self.smtp = smtp
        self.smtp_from = smtp_from
        self.smtp_timeout = smtp_timeout
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                socket_factory=self.guard.socket_factory(),
                limit=KEPT_CONNECTIONS,
                keepalive_timeout=KEEPALIVE_SECONDS,
                ssl=self.ssl_context if self.ssl_context is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": USER_AGENT}
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        """POSTs `body`; a 2xx answer is a success. Redirects are not followed (a
        receiver that moved must be edited, not chased) and count as failures."""
        started = time.perf_counter()
        request_headers = {"Content-Type": "application/json", **headers}
        try:
            async with self.session().post(
                url,
                data=body,
                headers=request_headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                excerpt = await _excerpt(response)
                status = response.status
        except TimeoutError:
            return failed(started, "timeout", f"no answer within {self.timeout:g} s")
        except aiohttp.ClientConnectorError as error:
            return _connect_failure(started, error)
        except aiohttp.ClientError as error:
            return failed(started, "protocol", f"{type(error).__name__}: {error}")
        ok = 200 <= status < 300
        return Attempt(
            ok,
            _ms_since(started),
            status_code=status,
            error_class=None if ok else "status",
            error=None if ok else f"HTTP {status}",
            response_excerpt=excerpt,
        )

    async def mail(
        self, to: list[str], *, subject: str, text: str, html: str, headers: dict[str, str]
    ) -> Attempt:
        """Mails a plain-text and an HTML part through the configured SMTP server."""
        started = time.perf_counter()
        if self.smtp is None:
            return failed(started, "smtp", "no SMTP server is configured (STATUSGRAPH_SMTP_URL)")
        try:
            message = mail.compose(
                sender=self.smtp_from,
                to=to,
                subject=subject,
                text=text,
                html=html,
                headers=headers,
            )
            await mail.send(
                self.smtp, message, timeout=self.smtp_timeout, tls_context=self.ssl_context
            )
        except mail.MailError as error:
            return failed(started, f"smtp:{error.kind}", str(error))
        except ValueError as error:  # an address or header the mail format refuses
            return failed(started, "smtp:invalid", str(error))
        return Attempt(True, _ms_since(started))


async def _excerpt(response: aiohttp.ClientResponse) -> str | None:
    chunk = await response.content.read(EXCERPT_BYTES)
    return chunk.decode("utf-8", "replace") if chunk else None


def _connect_failure(started: float, error: aiohttp.ClientConnectorError) -> Attempt:
    cause: Any = error.os_error
    if isinstance(cause, BlockedAddressError):
        return failed(started, "blocked", str(cause))
    if isinstance(error, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return failed(started, "tls", str(error))
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return failed(started, "dns", f"cannot resolve {error.host}")
    return failed(started, "connect", f"cannot connect to {error.host}:{error.port}")
