"""A status page's webhook subscriber (as Atlassian Statuspage offers): the
confirmation goes by mail to the address given with the URL; once confirmed, every
incident and maintenance event is POSTed as JSON, with the page and the unsubscribe
URL in it. Unsigned: a subscriber holds no secret of ours."""

import orjson

from statusgraph.events.outbox import EventType
from statusgraph.notifications.integrations import Outgoing
from statusgraph.notifications.integrations.subscriber_email import send_mail
from statusgraph.notifications.transport import Attempt, Transport


async def send(transport: Transport, outgoing: Outgoing) -> Attempt:
    if outgoing.subject.type == EventType.SUBSCRIBER_CONFIRMATION:
        return await send_mail(transport, outgoing, outgoing.settings["email"])
    payload = outgoing.subject.payload()
    payload["page"] = {
        "name": outgoing.settings["page_name"],
        "unsubscribeUrl": transport.base_url + outgoing.settings["unsubscribe_path"],
    }
    headers = {"webhook-id": outgoing.delivery_id}
    return await transport.post(outgoing.settings["target"], orjson.dumps(payload), headers)
