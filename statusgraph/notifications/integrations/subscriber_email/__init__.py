"""A status page's email subscriber: first the confirmation mail (double opt-in), then
one mail per incident or maintenance event, each with an unsubscribe link and the
`List-Unsubscribe` headers of RFC 2369 and RFC 8058 (one-click), so that mail clients
offer their own "Unsubscribe" button."""

import html

from statusgraph.events.outbox import EventType
from statusgraph.notifications.integrations import Outgoing
from statusgraph.notifications.integrations.email import render
from statusgraph.notifications.messages import Message, compose
from statusgraph.notifications.transport import Attempt, Transport


def confirmation(outgoing: Outgoing, base_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of the confirmation mail."""
    page = outgoing.settings["page_name"]
    link = base_url + outgoing.settings["confirm_path"]
    message = Message(
        f"Confirm your subscription to {page}",
        "Someone, hopefully you, asked to be told of incidents and maintenance on this "
        "status page. Open the link to confirm; if it was not you, ignore this mail and "
        "nothing more will be sent. The link works for 7 days.",
        "#0969da",
        link,
    )
    text, body = render(message, page)
    return message.title, text, body


def news(outgoing: Outgoing, base_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of an incident or maintenance mail, with the way out."""
    message = compose(outgoing.subject, base_url=base_url)
    unsubscribe = base_url + outgoing.settings["unsubscribe_path"]
    page = outgoing.settings["page_name"]
    footer = f"You subscribed to {page}. Unsubscribe: {unsubscribe}"
    text, body = render(Message(message.title, message.text, message.color, None), page)
    return (
        f"[{page}] {message.title}",
        f"{text}\n{footer}\n",
        body.replace(
            "</body>",
            f'<p><a href="{html.escape(unsubscribe, quote=True)}">Unsubscribe</a></p></body>',
        ),
    )


async def send_mail(transport: Transport, outgoing: Outgoing, to: str) -> Attempt:
    headers = {"X-Statusgraph-Delivery": outgoing.delivery_id}
    if outgoing.subject.type == EventType.SUBSCRIBER_CONFIRMATION:
        subject, text, body = confirmation(outgoing, transport.base_url)
    else:
        subject, text, body = news(outgoing, transport.base_url)
        headers["List-Unsubscribe"] = (
            f"<{transport.base_url}{outgoing.settings['unsubscribe_path']}>"
        )
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return await transport.mail([to], subject=subject, text=text, html=body, headers=headers)


async def send(transport: Transport, outgoing: Outgoing) -> Attempt:
    # As typed: the lowercased target only identifies the subscription.
    return await send_mail(transport, outgoing, outgoing.settings["email"])
