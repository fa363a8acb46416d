"""Entity tags for conditional GETs, shared by the GraphQL endpoint
(http/conditional.py) and the status pages (pages/caching.py)."""

import hashlib


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def still_fresh(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match against our tag, by weak comparison (RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(
        candidate.strip().removeprefix("W/") == tag for candidate in if_none_match.split(",")
    )
