"""EMAIL: a plain-text and an HTML part, through the SMTP server of
STATUSGRAPH_SMTP_URL (Transport.mail)."""

import html

from statusgraph.notifications.integrations import Outgoing
from statusgraph.notifications.messages import Message, compose
from statusgraph.notifications.transport import Attempt, Transport


def render(message: Message, organization: str) -> tuple[str, str]:
    """(text, html) of a message; every value escaped in the HTML."""
    link = f"\n\n{message.link}" if message.link else ""
    text = f"{message.title}\n\n{message.text}{link}\n\n-- \nstatusgraph · {organization}\n"
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in message.text.splitlines())
    anchor = (
        f'<p><a href="{html.escape(message.link, quote=True)}">Open</a></p>' if message.link else ""
    )
    body = (
        '<!doctype html><html><body style="font-family: sans-serif">'
        f'<h2 style="border-left: 6px solid {message.color}; padding-left: 8px">'
        f"{html.escape(message.title)}</h2>{paragraphs}{anchor}"
        f'<p style="color: #6e7781">statusgraph · {html.escape(organization)}</p>'
        "</body></html>"
    )
    return text, body


async def send(transport: Transport, outgoing: Outgoing) -> Attempt:
    message = compose(outgoing.subject, base_url=transport.base_url)
    text, body = render(message, outgoing.subject.organization_name)
    return await transport.mail(
        list(outgoing.settings["addresses"]),
        subject=message.title,
        text=text,
        html=body,
        headers={"X-Statusgraph-Delivery": outgoing.delivery_id},
    )
