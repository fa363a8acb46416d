"""Rows of the caller's organization, by ID: the NOT_FOUND rule in one place.

An ID of another organization behaves exactly like one that does not exist.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.db.scoping import for_org, for_org_via
from statusgraph.errors import NotFoundError
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock, locking
from statusgraph.resolvers.user_errors import Problems

Owned = TypeVar("Owned", bound=SQLModel)


async def owned_by_ids(
    session: AsyncSession,
    model: type[Owned],
    organization_id: str,
    ids: Sequence[str],
    *,
    lock: Lock = Lock.NONE,
) -> dict[str, Owned]:
    """The rows of `ids` that belong to the organization; others are simply absent.
    Mutations pass a `lock` (locks.py): what they check must hold until they commit."""
    if not ids:
        return {}
    identity = col(model.id)  # type: ignore[attr-defined]
    statement = for_org(model, organization_id).where(identity.in_(set(ids)))
    if lock is not Lock.NONE:
        # Locked in ID order: two transactions locking overlapping sets cannot deadlock.
        statement = locking(statement.order_by(identity), lock)
    return {row.id: row for row in (await session.exec(statement)).all()}  # type: ignore[attr-defined]


async def owned_children_by_ids(
    session: AsyncSession,
    model: type[Owned],
    parent: type[SQLModel],
    foreign_key: str,
    organization_id: str,
    ids: Sequence[str],
) -> dict[str, Owned]:
    """`owned_by_ids` for a table without an organization of its own (incident updates,
    heartbeat pings, status changes): a row belongs to its parent's organization."""
    if not ids:
        return {}
    statement = for_org_via(model, parent, foreign_key, organization_id).where(
        col(model.id).in_(set(ids))  # type: ignore[attr-defined]
    )
    return {row.id: row for row in (await session.exec(statement)).all()}  # type: ignore[attr-defined]


async def require_owned(
    session: AsyncSession,
    model: type[Owned],
    organization_id: str,
    object_id: str,
    type_name: str,
    *,
    lock: Lock = Lock.NONE,
) -> Owned:
    found = await owned_by_ids(session, model, organization_id, [object_id], lock=lock)
    if object_id not in found:
        raise NotFoundError.of(type_name)
    return found[object_id]


def check_references(
    problems: Problems, field: str, wanted: Sequence[str], found: dict[str, Any], type_name: str
) -> None:
    for missing in [object_id for object_id in wanted if object_id not in found]:
        problems.add(field, "NOT_FOUND", f"{type_name} not found: {missing}")
    if len(set(wanted)) != len(wanted):
        problems.add(field, "DUPLICATE", f"{field} lists the same {type_name} twice")


async def save_changes(
    session: AsyncSession,
    principal: Principal,
    row: Any,
    changes: dict[str, Any],
    *,
    action: str,
    scope: str,
    text_field: str,
    request: RequestInfo,
    now: datetime,
    skip: tuple[str, ...] = (),
) -> None:
    """Applies validated `changes` (column -> value; `text_field` is stripped), stamps
    updated_at and records which fields changed."""
    for name, value in changes.items():
        if name not in skip:
            setattr(row, name, value.strip() if name == text_field else value)
    row.updated_at = now
    session.add(row)
    await audit.record_change(
        session,
        principal,
        action,
        row,
        scope=scope,
        request=request,
        now=now,
        details={"changed": sorted(changes)},
    )
    await session.flush()


async def delete_owned(
    session: AsyncSession,
    principal: Principal,
    model: type[Owned],
    object_id: str,
    *,
    type_name: str,
    action: str,
    scope: str,
    describe: Callable[[Owned], dict[str, Any]],
    request: RequestInfo,
    now: datetime,
) -> str:
    """Deletes one of the organization's rows and records it; returns its ID. Of
    concurrent deletes of one row, one wins; the others wait for it and find nothing."""
    row = await require_owned(
        session, model, principal.organization_id, object_id, type_name, lock=Lock.DELETE
    )
    await session.delete(row)
    await audit.record_change(
        session,
        principal,
        action,
        row,
        scope=scope,
        request=request,
        now=now,
        details=describe(row),
    )
    await session.flush()
    return object_id
