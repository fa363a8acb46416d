"""Services (components), their groups, and the order pages show them in."""

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import Service, ServiceGroup
from statusgraph.db.scoping import for_org, owned_by
from statusgraph.events import outbox
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock, lock_organization, locking
from statusgraph.resolvers.owned import (
    check_references,
    delete_owned,
    owned_by_ids,
    require_owned,
    save_changes,
)
from statusgraph.resolvers.pagination import BY_POSITION, Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems
from statusgraph.resolvers.vocabulary import ServiceStatus

MAX_NAME = 200
MAX_DESCRIPTION = 2000


def _check_text(problems: Problems, field: str, value: Any, limit: int, *, required: bool) -> None:
    if value is None:
        if required:
            problems.add(field, "INVALID", f"{field} is required")
        return
    if required and not value.strip():
        problems.add(field, "INVALID", f"{field} must not be blank")
    if len(value) > limit:
        problems.add(field, "INVALID", f"{field} must be at most {limit} characters")


async def _next_position(session: AsyncSession, model: Any, organization_id: str) -> int:
    """The caller holds the organization's lock: two creates cannot both take max + 1."""
    statement = select(func.max(model.position)).where(owned_by(model, organization_id))
    highest = (await session.exec(statement)).one()
    return 0 if highest is None else int(highest) + 1


_record = functools.partial(audit.record_change, scope=Scope.services_write)


async def create_service(
    session: AsyncSession,
    principal: Principal,
    *,
    fields: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> Service:
    problems = Problems()
    _check_text(problems, "name", fields.get("name"), MAX_NAME, required=True)
    _check_text(problems, "description", fields.get("description"), MAX_DESCRIPTION, required=False)
    await lock_organization(session, principal.organization_id)
    group_id = fields.get("group_id")
    if group_id is not None:
        groups = await owned_by_ids(
            session, ServiceGroup, principal.organization_id, [group_id], lock=Lock.REFERENCE
        )
        check_references(problems, "groupId", [group_id], groups, "ServiceGroup")
    problems.raise_if_any()
    service = Service(
        id=new_id("svc"),
        organization_id=principal.organization_id,
        group_id=group_id,
        name=fields["name"].strip(),
        description=fields.get("description"),
        status=fields.get("status") or ServiceStatus.OPERATIONAL,
        position=await _next_position(session, Service, principal.organization_id),
        created_at=now,
        updated_at=now,
    )
    session.add(service)
    await _record(
        session,
        principal,
        "service.created",
        service,
        request=request,
        now=now,
        details={"name": service.name},
    )
    await session.flush()
    return service


async def update_service(
    session: AsyncSession,
    principal: Principal,
    *,
    service_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> Service:
    group_ids = [changes["group_id"]] if changes.get("group_id") is not None else []
    # The group before the service: deleteServiceGroup locks the group, then (ON DELETE
    # SET NULL) its services; locking in the other order could deadlock with it.
    groups = await owned_by_ids(
        session, ServiceGroup, principal.organization_id, group_ids, lock=Lock.REFERENCE
    )
    service = await require_owned(
        session, Service, principal.organization_id, service_id, "Service", lock=Lock.UPDATE
    )
    problems = Problems()
    if "name" in changes:
        _check_text(problems, "name", changes["name"], MAX_NAME, required=True)
    if "description" in changes:
        _check_text(
            problems, "description", changes["description"], MAX_DESCRIPTION, required=False
        )
    check_references(problems, "groupId", group_ids, groups, "ServiceGroup")
    if "status" in changes and changes["status"] is None:
        problems.add("status", "INVALID", "status must not be null")
    problems.raise_if_any()
    before = service.status
    await save_changes(
        session,
        principal,
        service,
        changes,
        action="service.updated",
        scope=Scope.services_write,
        text_field="name",
        request=request,
        now=now,
    )
    if service.status != before:
        outbox.emit(
            session,
            organization_id=service.organization_id,
            type=outbox.EventType.SERVICE_STATUS_CHANGED,
            data={"from": str(before), "to": str(service.status)},
            service_ids=[service.id],
            now=now,
        )
    return service


async def delete_service(
    session: AsyncSession,
    principal: Principal,
    *,
    service_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    return await delete_owned(
        session,
        principal,
        Service,
        service_id,
        type_name="Service",
        action="service.deleted",
        scope=Scope.services_write,
        describe=lambda row: {"name": row.name},
        request=request,
        now=now,
    )


async def reorder_services(
    session: AsyncSession,
    principal: Principal,
    *,
    service_ids: Sequence[str],
    request: RequestInfo,
    now: datetime,
) -> list[Service]:
    """Positions follow the given order; services not listed keep their relative order
    after the listed ones. Holds the organization's lock, like creates: positions are
    computed from all of the organization's services."""
    problems = Problems()
    await lock_organization(session, principal.organization_id)
    # Every service is locked, not just the listed ones: positions are rewritten from
    # what is committed, after any update or delete of one of them has finished.
    every = (
        await session.exec(
            locking(
                for_org(Service, principal.organization_id).order_by(col(Service.id)),
                Lock.UPDATE,
            )
        )
    ).all()
    wanted = set(service_ids)
    found = {service.id: service for service in every if service.id in wanted}
    check_references(problems, "serviceIds", service_ids, found, "Service")
    problems.raise_if_any()
    rest = sorted(
        (service for service in every if service.id not in found),
        key=lambda service: (service.position, service.id),
    )
    ordered = [found[service_id] for service_id in service_ids] + rest
    for position, service in enumerate(ordered):
        if service.position != position:
            service.position = position
            service.updated_at = now
            session.add(service)
    await _record(
        session,
        principal,
        "service.reordered",
        None,
        request=request,
        now=now,
        details={"serviceIds": list(service_ids)},
    )
    await session.flush()
    return ordered


async def list_services(
    session: AsyncSession,
    organization_id: str,
    *,
    group_id: str | None,
    page: PageArgs,
    with_count: bool = False,
) -> Page[Service]:
    statement = for_org(Service, organization_id)
    if group_id is not None:
        statement = statement.where(Service.group_id == group_id)
    return await paginate(
        session, statement, Service, page, sort=BY_POSITION, with_count=with_count
    )


async def create_group(
    session: AsyncSession, principal: Principal, *, name: str, request: RequestInfo, now: datetime
) -> ServiceGroup:
    problems = Problems()
    _check_text(problems, "name", name, MAX_NAME, required=True)
    problems.raise_if_any()
    await lock_organization(session, principal.organization_id)
    group = ServiceGroup(
        id=new_id("grp"),
        organization_id=principal.organization_id,
        name=name.strip(),
        position=await _next_position(session, ServiceGroup, principal.organization_id),
        created_at=now,
        updated_at=now,
    )
    session.add(group)
    await _record(
        session,
        principal,
        "service_group.created",
        group,
        request=request,
        now=now,
        details={"name": group.name},
    )
    await session.flush()
    return group


async def update_group(
    session: AsyncSession,
    principal: Principal,
    *,
    group_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> ServiceGroup:
    group = await require_owned(
        session, ServiceGroup, principal.organization_id, group_id, "ServiceGroup", lock=Lock.UPDATE
    )
    problems = Problems()
    if "name" in changes:
        _check_text(problems, "name", changes["name"], MAX_NAME, required=True)
    if "position" in changes and (changes["position"] is None or changes["position"] < 0):
        problems.add("position", "INVALID", "position must be zero or more")
    problems.raise_if_any()
    await save_changes(
        session,
        principal,
        group,
        changes,
        action="service_group.updated",
        scope=Scope.services_write,
        text_field="name",
        request=request,
        now=now,
    )
    return group


async def delete_group(
    session: AsyncSession,
    principal: Principal,
    *,
    group_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    """Its services stay, ungrouped (the foreign key is ON DELETE SET NULL). The delete
    updates those services in whatever order PostgreSQL scans them, while a reorder
    locks every service by id: both take the organization's lock first, so neither
    can hold one service and wait for another the other holds."""
    await lock_organization(session, principal.organization_id)
    return await delete_owned(
        session,
        principal,
        ServiceGroup,
        group_id,
        type_name="ServiceGroup",
        action="service_group.deleted",
        scope=Scope.services_write,
        describe=lambda row: {"name": row.name},
        request=request,
        now=now,
    )


async def list_groups(session: AsyncSession, organization_id: str) -> list[ServiceGroup]:
    statement = for_org(ServiceGroup, organization_id).order_by(
        col(ServiceGroup.position), col(ServiceGroup.id)
    )
    return list((await session.exec(statement)).all())
