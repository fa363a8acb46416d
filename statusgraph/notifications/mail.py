"""Mail: the SMTP server of STATUSGRAPH_SMTP_URL, messages composed for it, sending one.

URL forms (the user name and password percent-decoded):

- ``smtp://[user:password@]host[:port]``: port 25; STARTTLS when the server offers it,
  plain text otherwise (the password too, if the server takes AUTH without TLS);
- ``smtp+starttls://…``: port 587; STARTTLS required, nothing is sent without it;
- ``smtps://…``: port 465; TLS from the first byte.
"""

import asyncio
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import utils
from email.message import EmailMessage
from typing import Literal, NoReturn
from urllib.parse import unquote, urlsplit

import aiosmtplib

from statusgraph.email_addresses import HOST_LABEL, valid_address

Security = Literal["opportunistic", "starttls", "tls"]
ErrorKind = Literal["connect", "auth", "refused", "timeout", "tls"]

SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("opportunistic", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII but the colon (RFC 5322 §2.2)
# Headers compose() writes itself; an extra header may not replace them.
OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
BAD_HOST = "the host of an SMTP URL is not a host name or an IP address"
QUIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> "SmtpServer":
        """The server a URL names; ValueError says what is wrong, never with the password."""
        scheme, separator, rest = url.partition("://")
        if not separator or scheme.lower() not in SCHEMES:
            shown = scheme if separator else ""
            raise ValueError(
                "an SMTP URL starts with smtp://, smtp+starttls:// or smtps://"
                + (f", not {shown}://" if shown else "")
            )
        security, default_port = SCHEMES[scheme.lower()]
        try:
            parts = urlsplit("//" + rest)
        except ValueError:  # a bracketed host that is no IPv6 address
            raise ValueError(BAD_HOST) from None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("an SMTP URL has no path, query or fragment")
        host = parts.hostname
        if not host:
            raise ValueError("an SMTP URL names a host, as in smtp://mail.example.com")
        if not _is_host(host):
            raise ValueError(
                f"the host of an SMTP URL is not a host name or an IP address: {host!r}"
            )
        port_text = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
        port = default_port
        if port_text:
            if (
                not (port_text.isascii() and port_text.isdigit())
                or not 1 <= int(port_text) <= 65535
            ):
                raise ValueError(
                    f"the port of an SMTP URL is a number from 1 to 65535, not {port_text!r}"
                )
            port = int(port_text)
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if (username is None) != (password is None):
            raise ValueError("an SMTP URL has both a user name and a password, or neither")
        return cls(host, port, security, username, password)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _is_host(host: str) -> bool:
    if ":" in host:  # urlsplit took it from between brackets
        try:
            socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            return False
        return True
    return len(host) <= 253 and all(HOST_LABEL.fullmatch(label) for label in host.split("."))


class MailError(Exception):
    """A mail that did not leave. `kind` is connect | auth | refused | timeout | tls;
    the message never carries the password."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


def compose(
    *,
    sender: str,
    to: list[str],
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str] | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """A multipart/alternative mail, plain text then HTML. `sender` may carry a display
    name (``statusgraph <statusgraph@example.com>``), each of `to` may not. `headers`
    adds others (List-Unsubscribe, List-Unsubscribe-Post…), never replacing ours.
    Raises ValueError on a CR or LF in a header, a bad address or a header name."""
    _refuse_line_breaks("the sender", sender)
    _refuse_line_breaks("the subject", subject)
    _, sender_address = utils.parseaddr(sender)
    if "@" not in sender_address:
        raise ValueError(f"{sender!r} is not a sender address")
    if not to:
        raise ValueError("a mail has at least one recipient")
    for address in to:
        if not valid_address(address):
            raise ValueError(f"{address!r} is not an email address")
    extra = headers or {}
    for header, value in extra.items():
        if not HEADER_NAME.fullmatch(header):
            raise ValueError(f"{header!r} is not a header name")
        if header.lower() in OWN_HEADERS:
            raise ValueError(f"the {header} header is set by compose()")
        _refuse_line_breaks(f"the {header} header", value)

    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = utils.format_datetime(now or datetime.now(UTC))
    # The sender's domain, not make_msgid's default: that looks up this host's name.
    message["Message-ID"] = utils.make_msgid(domain=sender_address.rpartition("@")[2])
    for header, value in extra.items():
        message[header] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _refuse_line_breaks(what: str, value: str) -> None:
    # A line break in a header value would end it and start another (header injection).
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} contains a line break")


async def send(
    server: SmtpServer,
    message: EmailMessage,
    *,
    timeout: float,  # noqa: ASYNC109  (one deadline for the whole conversation, and each read's)
    tls_context: ssl.SSLContext | None = None,
) -> dict[str, str]:
    """Sends `message` to its To recipients through `server`, all within `timeout`
    seconds. Returns the recipients the server refused while it took the others
    (address → its reply), empty when it took all; raises MailError when the mail did
    not leave. `tls_context` replaces the system's trust store (tests)."""
    client: aiosmtplib.SMTP | None = None
    try:
        async with asyncio.timeout(timeout):
            client = aiosmtplib.SMTP(
                hostname=server.host,
                port=server.port,
                use_tls=server.security == "tls",
                start_tls=False,  # decided in _converse, so that each step fails as itself
                timeout=timeout,
                tls_context=tls_context,
                local_hostname=await _local_hostname(),
            )
            refused = await _converse(client, server, message)
        # The server has taken the mail: a goodbye that fails or lingers changes nothing
        # (failing here would send it again).
        with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            async with asyncio.timeout(min(timeout, QUIT_SECONDS)):
                await client.quit()
    except TimeoutError:
        raise MailError(
            "timeout", f"{server.address} did not finish within {timeout:g} s"
        ) from None
    finally:
        if client is not None:
            client.close()
    return refused


async def _converse(
    client: aiosmtplib.SMTP, server: SmtpServer, message: EmailMessage
) -> dict[str, str]:
    secret = server.password
    with _failing_as("connect", f"cannot connect to {server.address}", secret):
        await client.connect()
        await _hello(client)
    if server.security != "tls":
        offered = client.supports_extension("starttls")
        if server.security == "starttls" and not offered:
            raise MailError("tls", f"{server.address} does not offer STARTTLS")
        if offered:
            with _failing_as("tls", f"STARTTLS with {server.address} failed", secret):
                await client.starttls()
                await _hello(client)  # RFC 3207: what the server said before TLS is void
    if server.username is not None and server.password is not None:
        if not client.supports_extension("auth"):
            raise MailError("auth", f"{server.address} does not offer AUTH")
        with _failing_as("auth", f"{server.address} refused the login", secret):
            await client.login(server.username, server.password)
    with _failing_as("refused", f"{server.address} refused the mail", secret):
        refused, _ = await client.send_message(message)
    return {address: f"{reply.code} {reply.message}" for address, reply in refused.items()}


async def _hello(client: aiosmtplib.SMTP) -> None:
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        await client.helo()


@contextmanager
def _failing_as(kind: ErrorKind, what: str, secret: str | None) -> Iterator[None]:
    try:
        yield
    except TimeoutError:
        raise  # SMTPTimeoutError included: send() reports every timeout alike
    except aiosmtplib.SMTPServerDisconnected as error:
        _fail("connect", f"{what}: the server closed the connection ({error})", secret, error)
    except (aiosmtplib.SMTPException, OSError) as error:
        cause = error.__cause__ or error
        if isinstance(cause, ssl.SSLError):
            _fail("tls", f"{what}: {_describe(cause)}", secret, error)
        _fail(kind, f"{what}: {_describe(error)}", secret, error)


def _fail(kind: ErrorKind, message: str, secret: str | None, cause: BaseException) -> NoReturn:
    # Servers echo what they were sent now and then; the password must not reach a log.
    if secret:
        message = message.replace(secret, "***")
    raise MailError(kind, message) from cause


def _describe(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({error.verify_message})"
    return str(error) or type(error).__name__


_hostname: str | None = None


async def _local_hostname() -> str:
    """This host's name for EHLO, looked up once per process (it may take a DNS query)."""
    global _hostname
    if _hostname is None:
        _hostname = await asyncio.to_thread(socket.getfqdn)
    return _hostname
