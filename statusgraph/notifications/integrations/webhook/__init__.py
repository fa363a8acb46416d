"""WEBHOOK: the event as JSON, signed as Standard Webhooks specify."""

import orjson

from statusgraph.notifications import signing
from statusgraph.notifications.integrations import Outgoing
from statusgraph.notifications.transport import Attempt, Transport


async def send(transport: Transport, outgoing: Outgoing) -> Attempt:
    body = orjson.dumps(outgoing.subject.payload())
    headers = signing.headers(outgoing.secrets, outgoing.delivery_id, outgoing.timestamp, body)
    return await transport.post(outgoing.settings["url"], body, headers)
