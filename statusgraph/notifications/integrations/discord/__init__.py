"""DISCORD: a channel webhook (Discord's "Execute Webhook"): an embed with the colour,
the title linked and the details; no mentions are ever parsed from event text."""

from typing import Any

import orjson

from statusgraph.notifications.integrations import Outgoing
from statusgraph.notifications.messages import compose
from statusgraph.notifications.transport import Attempt, Transport

TITLE_LIMIT, DESCRIPTION_LIMIT = 256, 4096  # Discord's limits for an embed


def body(outgoing: Outgoing, base_url: str) -> dict[str, Any]:
    message = compose(outgoing.subject, base_url=base_url)
    embed: dict[str, Any] = {
        "title": message.title[:TITLE_LIMIT],
        "description": message.text[:DESCRIPTION_LIMIT],
        "color": int(message.color.removeprefix("#"), 16),
        "timestamp": outgoing.subject.created_at,
        "footer": {"text": f"statusgraph · {outgoing.subject.organization_name}"},
    }
    if message.link:
        embed["url"] = message.link
    # An incident titled "@everyone" must not ping a whole server.
    return {"username": "statusgraph", "embeds": [embed], "allowed_mentions": {"parse": []}}


async def send(transport: Transport, outgoing: Outgoing) -> Attempt:
    payload = orjson.dumps(body(outgoing, transport.base_url))
    return await transport.post(outgoing.settings["url"], payload, {})
