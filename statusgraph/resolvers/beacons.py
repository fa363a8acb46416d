"""Beacon keys (managed over GraphQL) and the events browsers post with them."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import BeaconEvent, BeaconKey
from statusgraph.db.scoping import for_org
from statusgraph.errors import AuthenticationError, BadUserInputError, ForbiddenError
from statusgraph.ids import new_id, random_base62
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.owned import require_owned
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems

KEY_PREFIX = "bpk_"
MAX_EVENTS = 100
MAX_ORIGINS = 50
INVALID_KEY = "Invalid beacon key"
ORIGIN_NOT_ALLOWED = "Origin not allowed"


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case, or None if `value` is no http(s) origin."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _check(name: str | None, origins: Sequence[str] | None, problems: Problems) -> list[str]:
    if name is not None and (not name.strip() or len(name) > 200):
        problems.add("name", "INVALID", "Name must be 1 to 200 characters")
    clean: list[str] = []
    for origin in origins or ():
        normalized = normalize_origin(origin)
        if normalized is None:
            problems.add("allowedOrigins", "INVALID", f"Invalid origin: {origin}")
        elif normalized not in clean:
            clean.append(normalized)
    if origins is not None and len(origins) > MAX_ORIGINS:
        problems.add("allowedOrigins", "INVALID", f"At most {MAX_ORIGINS} origins are allowed")
    return clean


async def _record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    key: BeaconKey,
    *,
    request: RequestInfo,
    now: datetime,
) -> None:
    details = {"name": key.name, "allowedOrigins": key.allowed_origins}
    await audit.record_change(
        session,
        principal,
        action,
        key,
        scope=Scope.config_write,
        request=request,
        now=now,
        details=details,
    )


async def create_key(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    allowed_origins: Sequence[str],
    request: RequestInfo,
    now: datetime,
) -> BeaconKey:
    problems = Problems()
    origins = _check(name, allowed_origins, problems)
    problems.raise_if_any()
    key = BeaconKey(
        id=new_id("bkey"),
        organization_id=principal.organization_id,
        name=name.strip(),
        key=KEY_PREFIX + random_base62(32),
        allowed_origins=origins,
        created_at=now,
    )
    session.add(key)
    await _record(session, principal, "beacon_key.created", key, request=request, now=now)
    await session.flush()
    return key


async def update_key(
    session: AsyncSession,
    principal: Principal,
    *,
    key_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> BeaconKey:
    key = await require_owned(
        session, BeaconKey, principal.organization_id, key_id, "BeaconKey", lock=Lock.UPDATE
    )
    problems = Problems()
    if "name" in changes and changes["name"] is None:
        problems.add("name", "INVALID", "Name must be 1 to 200 characters")
    origins = _check(changes.get("name"), changes.get("allowed_origins"), problems)
    problems.raise_if_any()
    if changes.get("name") is not None:
        key.name = changes["name"].strip()
    if changes.get("allowed_origins") is not None:
        key.allowed_origins = origins
    session.add(key)
    await _record(session, principal, "beacon_key.updated", key, request=request, now=now)
    await session.flush()
    return key


async def revoke_key(
    session: AsyncSession, principal: Principal, *, key_id: str, request: RequestInfo, now: datetime
) -> BeaconKey:
    key = await require_owned(
        session, BeaconKey, principal.organization_id, key_id, "BeaconKey", lock=Lock.UPDATE
    )
    problems = Problems()
    if key.revoked_at is not None:
        problems.add("id", "ALREADY_REVOKED", "Beacon key is already revoked")
    problems.raise_if_any()
    key.revoked_at = now
    session.add(key)
    await _record(session, principal, "beacon_key.revoked", key, request=request, now=now)
    await session.flush()
    return key


async def list_keys(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[BeaconKey]:
    return await paginate(
        session, for_org(BeaconKey, organization_id), BeaconKey, page, with_count=with_count
    )


async def origin_allowed_anywhere(session: AsyncSession, origin: str) -> bool:
    """For CORS preflights, which carry no body and so no key: does any active key
    allow this origin? The POST itself is then checked against its own key."""
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    keys = await session.exec(
        select(BeaconKey.allowed_origins).where(col(BeaconKey.revoked_at).is_(None))
    )
    return any(normalized in origins for origins in keys.all())


def parse_events(body: dict[str, Any], *, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """The key and the validated events of a beacon body: {"key", "event"} or {"key", "events"}."""
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise AuthenticationError(INVALID_KEY)
    unknown = sorted(set(body) - {"key", "event", "events"})
    if unknown:
        raise BadUserInputError(f"Unknown field: {unknown[0]}")
    if ("event" in body) == ("events" in body):
        raise BadUserInputError("Send either event or events")
    raw = [body["event"]] if "event" in body else body["events"]
    if not isinstance(raw, list) or not raw:
        raise BadUserInputError("events must be a non-empty list")
    if len(raw) > MAX_EVENTS:
        raise BadUserInputError(f"At most {MAX_EVENTS} events per request")
    return key, [_event(item, index, now) for index, item in enumerate(raw)]


def _event(item: Any, index: int, now: datetime) -> dict[str, Any]:
    where = f"events[{index}]"
    if not isinstance(item, dict):
        raise BadUserInputError(f"{where} must be an object")
    unknown = sorted(set(item) - {"type", "name", "url", "data", "timestamp"})
    if unknown:
        raise BadUserInputError(f"{where}: unknown field {unknown[0]}")
    kind = item.get("type")
    if not isinstance(kind, str) or not 1 <= len(kind) <= 64:
        raise BadUserInputError(f"{where}.type must be a string of 1 to 64 characters")
    for field, limit in (("name", 200), ("url", 2048)):
        value = item.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise BadUserInputError(
                f"{where}.{field} must be a string of at most {limit} characters"
            )
    data = item.get("data", {})
    if not isinstance(data, dict):
        raise BadUserInputError(f"{where}.data must be an object")
    occurred = now
    if item.get("timestamp") is not None:
        try:
            occurred = datetime.fromisoformat(str(item["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            raise BadUserInputError(f"{where}.timestamp must be an ISO 8601 time") from None
        if occurred.tzinfo is None:
            raise BadUserInputError(f"{where}.timestamp must include a time zone")
        try:
            occurred = occurred.astimezone(UTC)  # what the column stores
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise BadUserInputError(f"{where}.timestamp is out of range") from None
    return {
        "type": kind,
        "name": item.get("name"),
        "url": item.get("url"),
        "data": data,
        "occurred_at": occurred,
    }


async def record_events(
    session: AsyncSession,
    *,
    key: str,
    origin: str | None,
    events: list[dict[str, Any]],
    request: RequestInfo,
    now: datetime,
) -> int:
    beacon_key = (
        await session.exec(
            select(BeaconKey).where(BeaconKey.key == key, col(BeaconKey.revoked_at).is_(None))
        )
    ).first()
    if beacon_key is None:
        raise AuthenticationError(INVALID_KEY)
    if origin is not None and normalize_origin(origin) not in beacon_key.allowed_origins:
        raise ForbiddenError(ORIGIN_NOT_ALLOWED)
    for event in events:
        session.add(
            BeaconEvent(
                id=new_id("bev"),
                organization_id=beacon_key.organization_id,
                beacon_key_id=beacon_key.id,
                ip=request.ip,
                user_agent=(request.user_agent or "")[:512] or None,
                created_at=now,
                **event,
            )
        )
    await session.flush()
    return len(events)


async def list_events(
    session: AsyncSession,
    organization_id: str,
    *,
    kind: str | None,
    page: PageArgs,
    with_count: bool = False,
) -> Page[BeaconEvent]:
    statement = for_org(BeaconEvent, organization_id)
    if kind is not None:
        statement = statement.where(BeaconEvent.type == kind)
    return await paginate(session, statement, BeaconEvent, page, with_count=with_count)
