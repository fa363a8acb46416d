"""Standard Webhooks signatures (https://www.standardwebhooks.com): the receiver checks
`webhook-signature` against an HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`
keyed with the secret, and refuses timestamps too far from its clock. Several
signatures, space-separated, are allowed: during a secret's rotation both the new and the
previous secret sign, so a receiver still holding the old one keeps verifying."""

import base64
import hashlib
import hmac
from collections.abc import Sequence

from statusgraph.auth.sealed import signing_key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id, timestamp, body) for secret in secrets
        ),
    }
