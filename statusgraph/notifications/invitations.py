"""The invitation mail (DESIGN §11): sent once, from the web process, when
`inviteMember` creates an invitation and an SMTP server is configured.

Unlike the other mails it does not go through the outbox: its link carries the one-time
token, which is stored only as an HMAC, and an outbox event would keep it in clear. A
mail that fails is not retried; the link is in inviteMember's answer either way.
"""

from datetime import datetime

from statusgraph.local_time import when
from statusgraph.notifications.integrations.email import render
from statusgraph.notifications.messages import Message
from statusgraph.notifications.transport import Attempt, Transport


def invitation(
    *,
    organization_name: str,
    role: str,
    inviter: str,
    url: str,
    expires_at: datetime,
    time_zone: str = "UTC",
) -> tuple[str, str, str]:
    """(subject, text, html) of the invitation mail; the expiry in the organization's
    time zone."""
    message = Message(
        f"You are invited to join {organization_name} on statusgraph",
        f"{inviter} invited you to join {organization_name} as {role}. Open the link to "
        "accept: a new account chooses its name and password there; an existing one signs "
        f"in with its password. The link works once, until "
        f"{when(expires_at, time_zone)}. If you did not expect this, ignore "
        "this mail.",
        "#0969da",
        url,
    )
    text, body = render(message, organization_name)
    return message.title, text, body


async def send_invitation(
    transport: Transport,
    *,
    to: str,
    organization_name: str,
    role: str,
    inviter: str,
    url: str,
    expires_at: datetime,
    time_zone: str = "UTC",
) -> Attempt:
    subject, text, body = invitation(
        organization_name=organization_name,
        role=role,
        inviter=inviter,
        url=url,
        expires_at=expires_at,
        time_zone=time_zone,
    )
    return await transport.mail([to], subject=subject, text=text, html=body, headers={})
