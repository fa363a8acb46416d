"""One folder per kind of channel: each has `send(transport, outgoing) -> Attempt`.
A new kind is a copy of a sibling folder, an entry in KINDS, and its settings' rules in
resolvers/notification_channels.py."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from statusgraph.notifications.messages import Subject
from statusgraph.notifications.transport import Attempt, Transport


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One delivery to send: its id (the receiver's idempotency key), the event with
    what was read about it, and the channel's settings and (opened) signing secrets."""

    delivery_id: str
    subject: Subject
    channel_id: str
    channel_name: str
    kind: str
    settings: dict[str, Any]
    secrets: tuple[str, ...]  # the current signing secret first, then one in its overlap
    timestamp: int  # seconds since the epoch, for the signature


Send = Callable[[Transport, Outgoing], Awaitable[Attempt]]


def kinds() -> dict[str, Send]:
    from statusgraph.notifications.integrations import (
        discord,
        email,
        slack,
        subscriber_email,
        subscriber_webhook,
        webhook,
    )

    return {
        "webhook": webhook.send,
        "slack": slack.send,
        "discord": discord.send,
        "email": email.send,
        "subscriber_email": subscriber_email.send,
        "subscriber_webhook": subscriber_webhook.send,
    }
