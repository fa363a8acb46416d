"""Mail (statusgraph/notifications/mail.py): the SMTP URL, composing a mail, and sending
it to real SMTP servers on loopback (tests/smtp_sink.py)."""

import asyncio
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from pydantic import ValidationError

from statusgraph.config import Settings
from statusgraph.email_addresses import valid_address
from statusgraph.notifications.mail import MailError, SmtpServer, compose, send
from tests.servers import free_port
from tests.smtp_sink import Sink, SinkFactory
from tests.smtp_sink import smtp_sink as smtp_sink
from tests.smtp_sink import smtp_sinks as smtp_sinks

SENDER = "statusgraph <alerts@example.com>"
UNSUBSCRIBE = "<https://status.example.com/unsubscribe/t0ken>"


def a_mail(to: list[str] | None = None, **overrides: object) -> EmailMessage:
    fields: dict[str, object] = {
        "sender": SENDER,
        "to": to or ["ops@example.com"],
        "subject": "API is down",
        "text": "The API has been down since 12:00 UTC.",
        "html": "<p>The API has been down since 12:00 UTC.</p>",
        "headers": {
            "List-Unsubscribe": UNSUBSCRIBE,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    fields.update(overrides)
    return compose(**fields)  # type: ignore[arg-type]


class TestSmtpServerParse:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, "opportunistic")),
            (
                "smtp://mail.example.com:2525/",
                SmtpServer("mail.example.com", 2525, "opportunistic"),
            ),
            ("smtp+starttls://mail.example.com", SmtpServer("mail.example.com", 587, "starttls")),
            ("smtps://mail.example.com", SmtpServer("mail.example.com", 465, "tls")),
            ("SMTPS://Mail.Example.com:2465", SmtpServer("mail.example.com", 2465, "tls")),
            ("smtp://127.0.0.1:1025", SmtpServer("127.0.0.1", 1025, "opportunistic")),
            ("smtp://[::1]:1025", SmtpServer("::1", 1025, "opportunistic")),
            (
                "smtp+starttls://alerts%40example.com:p%3Ass%40w%2Frd%25@mail.example.com:587",
                SmtpServer("mail.example.com", 587, "starttls", "alerts@example.com", "p:ss@w/rd%"),
            ),
            (
                "smtp://user:@mail.example.com",
                SmtpServer("mail.example.com", 25, "opportunistic", "user", ""),
            ),
        ],
    )
    def test_it_reads_every_form(self, url, expected):
        assert SmtpServer.parse(url) == expected

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            (
                "http://mail.example.com",
                "an SMTP URL starts with smtp://, smtp+starttls:// or smtps://, not http://",
            ),
            (
                "smtp+tls://mail.example.com",
                "an SMTP URL starts with smtp://, smtp+starttls:// or smtps://, not smtp+tls://",
            ),
            (
                "mail.example.com:25",
                "an SMTP URL starts with smtp://, smtp+starttls:// or smtps://",
            ),
            ("", "an SMTP URL starts with smtp://, smtp+starttls:// or smtps://"),
            ("smtp://", "an SMTP URL names a host, as in smtp://mail.example.com"),
            ("smtp://user:hunter2@:25", "an SMTP URL names a host, as in smtp://mail.example.com"),
            (
                "smtp://mail example.com",
                "the host of an SMTP URL is not a host name or an IP address: 'mail example.com'",
            ),
            (
                "smtp://-mail.example.com",
                "the host of an SMTP URL is not a host name or an IP address: '-mail.example.com'",
            ),
            (
                "smtp://user:hunter2@[::g]",
                "the host of an SMTP URL is not a host name or an IP address",
            ),
            (
                "smtp://mail.example.com:0",
                "the port of an SMTP URL is a number from 1 to 65535, not '0'",
            ),
            (
                "smtp://mail.example.com:65536",
                "the port of an SMTP URL is a number from 1 to 65535, not '65536'",
            ),
            (
                "smtp://mail.example.com:smtp",
                "the port of an SMTP URL is a number from 1 to 65535, not 'smtp'",
            ),
            (
                "smtp://mail.example.com:-25",
                "the port of an SMTP URL is a number from 1 to 65535, not '-25'",
            ),
            (
                "smtp://mail.example.com:٢٥",
                "the port of an SMTP URL is a number from 1 to 65535, not '٢٥'",
            ),
            ("smtp://mail.example.com/inbox", "an SMTP URL has no path, query or fragment"),
            ("smtp://mail.example.com?tls=1", "an SMTP URL has no path, query or fragment"),
            ("smtp://mail.example.com#x", "an SMTP URL has no path, query or fragment"),
            (
                "smtp://alerts@mail.example.com",
                "an SMTP URL has both a user name and a password, or neither",
            ),
            (
                "smtp://:hunter2@mail.example.com",
                "an SMTP URL has both a user name and a password, or neither",
            ),
        ],
    )
    def test_it_says_what_is_wrong(self, url, message):
        with pytest.raises(ValueError, match=r"^") as raised:
            SmtpServer.parse(url)
        assert str(raised.value) == message
        assert "hunter2" not in str(raised.value)

    def test_its_repr_has_no_password(self):
        server = SmtpServer.parse("smtps://alerts:hunter2@mail.example.com")
        assert server.password == "hunter2"
        assert "hunter2" not in repr(server)

    def test_it_writes_ipv6_addresses_in_brackets(self):
        assert SmtpServer.parse("smtp://[::1]:1025").address == "[::1]:1025"
        assert SmtpServer.parse("smtp://mail.example.com").address == "mail.example.com:25"


class TestSettings:
    def test_it_reads_the_smtp_settings_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("STATUSGRAPH_SMTP_URL", "smtps://alerts:hunter2@mail.example.com")
        monkeypatch.setenv("STATUSGRAPH_SMTP_FROM", "Status <status@example.com>")
        monkeypatch.setenv("STATUSGRAPH_SMTP_TIMEOUT_SECONDS", "2.5")
        settings = Settings()
        assert settings.smtp_url is not None
        assert settings.smtp_url.get_secret_value() == "smtps://alerts:hunter2@mail.example.com"
        assert "hunter2" not in repr(settings)
        assert settings.smtp_from == "Status <status@example.com>"
        assert settings.smtp_timeout_seconds == 2.5

    def test_its_defaults_send_nothing(self):
        settings = Settings()
        assert settings.smtp_url is None
        assert settings.smtp_from == "statusgraph <statusgraph@localhost>"
        assert settings.smtp_timeout_seconds == 10

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            (
                "smtp_url",
                "http://mail.example.com",
                "Value error, an SMTP URL starts with smtp://, smtp+starttls:// or smtps://",
            ),
            (
                "smtp_from",
                "statusgraph",
                "Value error, not an address on one line, like statusgraph <ops@example.com>",
            ),
            (
                "smtp_from",
                "a <a@example.com>\r\nBcc: b@example.com",
                "Value error, not an address on one line, like statusgraph <ops@example.com>",
            ),
            ("smtp_timeout_seconds", 0, "Input should be greater than 0"),
            ("smtp_timeout_seconds", 301, "Input should be less than or equal to 300"),
        ],
    )
    def test_it_refuses_bad_values(self, field, value, message):
        with pytest.raises(ValidationError) as raised:
            Settings(**{field: value})
        assert [error["msg"] for error in raised.value.errors()] == [message]


class TestValidAddress:
    @pytest.mark.parametrize(
        "address",
        ["ops@example.com", "first.last+tag@mail.example.co.uk", "o'brien@example.ie", "x@a-b.io"],
    )
    def test_it_takes_bare_addresses(self, address):
        assert valid_address(address)

    @pytest.mark.parametrize(
        "address",
        [
            "",
            "ops",
            "ops@localhost",
            "ops@@example.com",
            "ops@example@example.com",
            "@example.com",
            "ops@",
            "Ops <ops@example.com>",
            "<ops@example.com>",
            "ops(comment)@example.com",
            " ops@example.com",
            "ops@example.com\r\nBcc: victim@example.com",
            "ops @example.com",
            "ops.@example.com",
            "ops@example..com",
            "ops@-example.com",
            "ops@[192.0.2.1]",
            "josé@example.com",
            "ops@exämple.com",
            "o" * 65 + "@example.com",
            "ops@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 59 + ".com",
        ],
    )
    def test_it_refuses_anything_else(self, address):
        assert not valid_address(address)

    def test_it_takes_254_characters_but_not_255(self):
        domain = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".com"
        assert valid_address("o" * (254 - 1 - len(domain)) + "@" + domain)
        assert not valid_address("o" * (255 - 1 - len(domain)) + "@" + domain)


class TestCompose:
    def test_it_has_a_plain_and_an_html_part(self):
        mail = a_mail()
        assert mail.get_content_type() == "multipart/alternative"
        parts = [(part.get_content_type(), part.get_content()) for part in mail.iter_parts()]
        assert parts == [
            ("text/plain", "The API has been down since 12:00 UTC.\n"),
            ("text/html", "<p>The API has been down since 12:00 UTC.</p>\n"),
        ]

    def test_it_writes_the_headers(self):
        now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
        mail = a_mail(to=["ops@example.com", "dev@example.org"], now=now)
        assert mail["From"] == SENDER
        assert mail["To"] == "ops@example.com, dev@example.org"
        assert mail["Subject"] == "API is down"
        assert parsedate_to_datetime(mail["Date"]) == now
        assert mail["Message-ID"].startswith("<")
        assert mail["Message-ID"].endswith("@example.com>")
        assert mail["List-Unsubscribe"] == UNSUBSCRIBE
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail["Bcc"] is None

    def test_each_mail_has_its_own_message_id(self):
        assert a_mail()["Message-ID"] != a_mail()["Message-ID"]

    def test_it_encodes_a_subject_that_is_not_ascii(self):
        mail = a_mail(subject="Panne de l'API — 東京")
        assert "=?utf-8?" in mail.as_string()
        assert mail["Subject"] == "Panne de l'API — 東京"

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"subject": "Down\r\nBcc: victim@example.com"}, "the subject contains a line break"),
            ({"subject": "Down\nBcc: victim@example.com"}, "the subject contains a line break"),
            (
                {"sender": "a@example.com\rBcc: victim@example.com"},
                "the sender contains a line break",
            ),
            (
                {"headers": {"List-Unsubscribe": "<https://x.test/u>\r\nBcc: victim@example.com"}},
                "the List-Unsubscribe header contains a line break",
            ),
            (
                {"headers": {"X-Note\r\nBcc": "victim@example.com"}},
                "'X-Note\\r\\nBcc' is not a header name",
            ),
            ({"headers": {"X Note": "1"}}, "'X Note' is not a header name"),
            ({"headers": {"X-Note:": "1"}}, "'X-Note:' is not a header name"),
            ({"headers": {"bcc": "victim@example.com"}}, "the bcc header is set by compose()"),
            ({"headers": {"Subject": "Other"}}, "the Subject header is set by compose()"),
            (
                {"to": ["ops@example.com\r\nBcc: victim@example.com"]},
                "'ops@example.com\\r\\nBcc: victim@example.com' is not an email address",
            ),
            ({"to": ["Ops <ops@example.com>"]}, "'Ops <ops@example.com>' is not an email address"),
            ({"sender": "statusgraph"}, "'statusgraph' is not a sender address"),
        ],
    )
    def test_it_refuses_what_would_inject_headers(self, overrides, message):
        with pytest.raises(ValueError, match=r"^") as raised:
            a_mail(**overrides)
        assert str(raised.value) == message

    def test_it_needs_a_recipient(self):
        with pytest.raises(ValueError, match=r"^a mail has at least one recipient$"):
            compose(sender=SENDER, to=[], subject="s", text="t", html="<p>t</p>")


class TestSend:
    async def test_the_server_receives_the_mail(self, smtp_sink: Sink) -> None:
        refused = await send(SmtpServer.parse(smtp_sink.url()), a_mail(), timeout=5)
        assert refused == {}
        [received] = smtp_sink.received
        assert received.mail_from == "alerts@example.com"
        assert received.rcpt_tos == ["ops@example.com"]
        assert (received.tls, received.login) == (False, None)
        mail = received.message
        assert mail["Subject"] == "API is down"
        assert mail["To"] == "ops@example.com"
        assert mail["List-Unsubscribe"] == UNSUBSCRIBE
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
        assert plain is not None
        assert html is not None
        assert plain.get_content() == "The API has been down since 12:00 UTC.\n"
        assert html.get_content() == "<p>The API has been down since 12:00 UTC.</p>\n"

    async def test_it_logs_in_with_the_decoded_user_name_and_password(
        self, smtp_sinks: SinkFactory
    ) -> None:
        sink = smtp_sinks(login=("alerts@example.com", "p@ss:word"), tls="starttls")
        url = sink.url("smtp+starttls", "alerts%40example.com:p%40ss%3Aword")
        await send(SmtpServer.parse(url), a_mail(), timeout=5, tls_context=sink.trusting())
        assert [(r.tls, r.login) for r in sink.received] == [(True, "alerts@example.com")]

    async def test_a_wrong_password_is_an_auth_error_without_the_password(
        self, smtp_sinks: SinkFactory
    ) -> None:
        sink = smtp_sinks(login=("alerts", "right-password"), tls="starttls")
        server = SmtpServer.parse(sink.url("smtp+starttls", "alerts:hunter2"))
        with pytest.raises(MailError) as raised:
            await send(server, a_mail(), timeout=5, tls_context=sink.trusting())
        assert raised.value.kind == "auth"
        assert str(raised.value) == (
            f"127.0.0.1:{sink.port} refused the login: 535 5.7.8 Authentication credentials invalid"
        )
        assert "hunter2" not in str(raised.value)
        assert "hunter2" not in repr(raised.value)
        assert sink.received == []

    async def test_a_login_to_a_server_not_offering_auth_is_an_auth_error(
        self, smtp_sink: Sink
    ) -> None:
        server = SmtpServer.parse(smtp_sink.url(userinfo="alerts:hunter2"))
        with pytest.raises(MailError) as raised:
            await send(server, a_mail(), timeout=5)
        assert (raised.value.kind, str(raised.value)) == (
            "auth",
            f"127.0.0.1:{smtp_sink.port} does not offer AUTH",
        )
        assert smtp_sink.received == []

    async def test_smtp_upgrades_to_starttls_when_offered(self, smtp_sinks: SinkFactory) -> None:
        sink = smtp_sinks(login=("alerts", "hunter2"), tls="starttls")
        server = SmtpServer.parse(sink.url("smtp", "alerts:hunter2"))
        await send(server, a_mail(), timeout=5, tls_context=sink.trusting())
        assert [(r.tls, r.login) for r in sink.received] == [(True, "alerts")]

    async def test_smtp_starttls_requires_it(self, smtp_sinks: SinkFactory) -> None:
        sink = smtp_sinks(tls="starttls")
        await send(
            SmtpServer.parse(sink.url("smtp+starttls")),
            a_mail(),
            timeout=5,
            tls_context=sink.trusting(),
        )
        assert [received.tls for received in sink.received] == [True]

    async def test_smtp_starttls_sends_nothing_to_a_server_without_it(
        self, smtp_sink: Sink
    ) -> None:
        server = SmtpServer.parse(smtp_sink.url("smtp+starttls", "alerts:hunter2"))
        with pytest.raises(MailError) as raised:
            await send(server, a_mail(), timeout=5)
        assert (raised.value.kind, str(raised.value)) == (
            "tls",
            f"127.0.0.1:{smtp_sink.port} does not offer STARTTLS",
        )
        assert smtp_sink.received == []

    async def test_starttls_with_an_untrusted_certificate_is_a_tls_error(
        self, smtp_sinks: SinkFactory
    ) -> None:
        sink = smtp_sinks(tls="starttls")
        with pytest.raises(MailError) as raised:
            await send(SmtpServer.parse(sink.url("smtp+starttls")), a_mail(), timeout=5)
        assert raised.value.kind == "tls"
        assert str(raised.value).startswith(
            f"STARTTLS with 127.0.0.1:{sink.port} failed: certificate not trusted ("
        )
        assert sink.received == []

    async def test_smtps_speaks_tls_from_the_first_byte(self, smtp_sinks: SinkFactory) -> None:
        sink = smtp_sinks(tls="implicit")
        await send(
            SmtpServer.parse(sink.url("smtps")), a_mail(), timeout=5, tls_context=sink.trusting()
        )
        assert [received.tls for received in sink.received] == [True]

    async def test_smtps_with_an_untrusted_certificate_is_a_tls_error(
        self, smtp_sinks: SinkFactory
    ) -> None:
        sink = smtp_sinks(tls="implicit")
        with pytest.raises(MailError) as raised:
            await send(SmtpServer.parse(sink.url("smtps")), a_mail(), timeout=5)
        assert raised.value.kind == "tls"
        assert str(raised.value).startswith(
            f"cannot connect to 127.0.0.1:{sink.port}: certificate not trusted ("
        )
        assert sink.received == []

    async def test_a_closed_port_is_a_connect_error(self) -> None:
        port = free_port()
        with pytest.raises(MailError) as raised:
            await send(SmtpServer.parse(f"smtp://127.0.0.1:{port}"), a_mail(), timeout=5)
        assert raised.value.kind == "connect"
        assert str(raised.value).startswith(f"cannot connect to 127.0.0.1:{port}: ")

    async def test_a_refused_recipient_is_reported_and_the_others_receive_it(
        self, smtp_sink: Sink
    ) -> None:
        smtp_sink.refuse = {"gone@example.com"}
        mail = a_mail(to=["gone@example.com", "ops@example.com"])
        refused = await send(SmtpServer.parse(smtp_sink.url()), mail, timeout=5)
        assert refused == {"gone@example.com": "550 5.1.1 No such mailbox here"}
        assert [received.rcpt_tos for received in smtp_sink.received] == [["ops@example.com"]]

    async def test_every_recipient_refused_is_a_refused_error(self, smtp_sink: Sink) -> None:
        smtp_sink.refuse = {"gone@example.com"}
        with pytest.raises(MailError) as raised:
            await send(
                SmtpServer.parse(smtp_sink.url()), a_mail(to=["gone@example.com"]), timeout=5
            )
        assert (raised.value.kind, str(raised.value)) == (
            "refused",
            f"127.0.0.1:{smtp_sink.port} refused the mail: gone@example.com: 550 5.1.1 No such mailbox here",
        )
        assert smtp_sink.received == []

    async def test_a_server_that_stalls_is_a_timeout_within_the_timeout(
        self, smtp_sink: Sink
    ) -> None:
        smtp_sink.stall = True
        started = time.monotonic()
        with pytest.raises(MailError) as raised:
            await send(SmtpServer.parse(smtp_sink.url()), a_mail(), timeout=0.5)
        elapsed = time.monotonic() - started
        assert (raised.value.kind, str(raised.value)) == (
            "timeout",
            f"127.0.0.1:{smtp_sink.port} did not finish within 0.5 s",
        )
        assert 0.5 <= elapsed < 1.5

    async def test_a_server_that_never_greets_is_a_timeout(self) -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the client hangs up
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        started = time.monotonic()
        try:
            with pytest.raises(MailError) as raised:
                await send(SmtpServer.parse(f"smtp://127.0.0.1:{port}"), a_mail(), timeout=0.3)
        finally:
            server.close()
            await server.wait_closed()
        assert (raised.value.kind, str(raised.value)) == (
            "timeout",
            f"127.0.0.1:{port} did not finish within 0.3 s",
        )
        assert time.monotonic() - started < 1.3
