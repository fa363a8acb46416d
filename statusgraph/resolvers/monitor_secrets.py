"""Secrets in a monitor's settings: request headers that carry credentials, and a
password in the URL. They are shown masked, to readers and editors alike (a
`monitors:read` key must not learn a token the monitor sends), and an update that sends
the mask back keeps the stored value, so a client may read, change another field, and
write the settings back whole.
"""

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"
# Header names that carry credentials: the standard ones, and any that says so.
SENSITIVE = re.compile(
    r"^(authorization|proxy-authorization|cookie)$|key|token|secret|passw|auth|session",
    re.IGNORECASE,
)


def masked_headers(headers: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {"name": h["name"], "value": MASK if SENSITIVE.search(h["name"]) else h["value"]}
        for h in headers
    ]


def masked_url(url: str) -> str:
    """The URL with the password of its userinfo, if any, masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def unmasked(changes: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """`changes` with masks sent back replaced by the stored values they stand for."""
    restored = dict(changes)
    headers = changes.get("headers")
    if headers is not None:
        kept = {h["name"].lower(): h["value"] for h in stored.get("headers") or []}
        restored["headers"] = [
            {"name": h["name"], "value": kept.get(h["name"].lower(), h["value"])}
            if h["value"] == MASK
            else h
            for h in headers
        ]
    url, old_url = changes.get("url"), stored.get("url")
    if isinstance(url, str) and isinstance(old_url, str) and url == masked_url(old_url) != old_url:
        restored["url"] = old_url
    return restored
