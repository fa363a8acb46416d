"""SLACK: an incoming webhook (https://api.slack.com/messaging/webhooks): `text` for
notifications and clients without blocks, and an attachment with the colour bar, the
title linked and the details."""

from typing import Any

import orjson

from statusgraph.notifications.integrations import Outgoing
from statusgraph.notifications.messages import compose
from statusgraph.notifications.transport import Attempt, Transport


def body(outgoing: Outgoing, base_url: str) -> dict[str, Any]:
    message = compose(outgoing.subject, base_url=base_url)
    attachment: dict[str, Any] = {
        "color": message.color,
        "title": message.title,
        "text": message.text,
        "footer": f"statusgraph · {outgoing.subject.organization_name}",
    }
    if message.link:
        attachment["title_link"] = message.link
    return {"text": message.title, "attachments": [attachment]}


async def send(transport: Transport, outgoing: Outgoing) -> Attempt:
    payload = orjson.dumps(body(outgoing, transport.base_url))
    return await transport.post(outgoing.settings["url"], payload, {})
