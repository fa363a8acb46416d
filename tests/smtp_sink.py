"""SMTP servers the tests send mail to: aiosmtpd on loopback, in a thread of its own,
recording every mail it takes. Plain, with a required login, with STARTTLS (offered or
required) or with TLS from the first byte, its certificate issued by a `trustme` CA.

    from tests.smtp_sink import smtp_sink as smtp_sink, smtp_sinks as smtp_sinks
"""

import asyncio
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers import free_port

STALL_SECONDS = 60  # longer than any test waits; stopping the sink cancels it


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool  # whether the mail came over TLS (STARTTLS or from the first byte)
    login: str | None  # the user name it was sent under, if any


@dataclass
class Sink:
    port: int
    ca: trustme.CA | None = None
    received: list[Received] = field(default_factory=list)
    # Recipients answered with 550 (the others are taken).
    refuse: set[str] = field(default_factory=set)
    # While true, the answer to a mail's DATA never comes.
    stall: bool = False

    def url(self, scheme: str = "smtp", userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{at}127.0.0.1:{self.port}"

    def trusting(self) -> ssl.SSLContext:
        """A client context that trusts this sink's certificate (and nothing else)."""
        assert self.ca is not None, "a sink without TLS has no certificate"
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


class _Recorder:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.stall:
            await asyncio.sleep(STALL_SECONDS)
        assert isinstance(envelope.original_content, bytes)
        assert envelope.mail_from is not None
        # Line ends as Python writes them, so that a body reads as it was composed.
        content = envelope.original_content.replace(b"\r\n", b"\n")
        message = BytesParser(EmailMessage, policy=default).parsebytes(content)
        transport = server.transport
        self.sink.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message,
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
                login=session.auth_data,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


def _authenticator(username: str, password: str) -> Callable[..., AuthResult]:
    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            username.encode(),
            password.encode(),
        ):
            return AuthResult(success=True, auth_data=username)
        return AuthResult(success=False, handled=False)

    return check


SinkFactory = Callable[..., Sink]


@pytest.fixture
def smtp_sinks() -> Iterator[SinkFactory]:
    """Starts sinks: `smtp_sinks(login=("user", "password"), tls="starttls")`, with
    `tls` None (plain), "starttls" (offered, and required before a mail or a login) or
    "implicit" (TLS from the first byte); a login needs one of them. All are stopped
    after the test."""
    controllers: list[Controller] = []

    def start(*, login: tuple[str, str] | None = None, tls: str | None = None) -> Sink:
        sink = Sink(free_port())
        options: dict[str, Any] = {}
        if tls is not None:
            sink.ca = trustme.CA()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            sink.ca.issue_cert("127.0.0.1").configure_cert(context)
            if tls == "starttls":
                options.update(tls_context=context, require_starttls=True)
            else:
                assert tls == "implicit", tls
                options.update(ssl_context=context)
        if login is not None:
            # aiosmtpd offers AUTH only over TLS (auth_require_tls): a sink with a login
            # has TLS too, and a plain one answers a login as "AUTH not offered".
            assert tls is not None, "a login needs TLS"
            options.update(auth_required=True, authenticator=_authenticator(*login))
        controller = Controller(
            _Recorder(sink),
            hostname="127.0.0.1",
            port=sink.port,
            server_hostname="sink.test",  # the default would look this host's name up
            **options,
        )
        controller.start()
        controllers.append(controller)
        return sink

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_sink(smtp_sinks: SinkFactory) -> Sink:
    """A plain sink: no TLS, no login."""
    return smtp_sinks()
