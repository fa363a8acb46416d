"""Status pages: the reference contract's fields and messages, plan limits that hold
under concurrency, viewer tokens for PRIVATE pages, and who may read which page."""

import functools
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlalchemy import bindparam, exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys
from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import Service, StatusPage, StatusPageService, StatusPageViewerToken
from statusgraph.db.scoping import for_org, owned_by
from statusgraph.errors import NotFoundError
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock, lock_organization
from statusgraph.resolvers.owned import check_references, owned_by_ids, require_owned
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems, UserInputError
from statusgraph.resolvers.vocabulary import PLAN_PAGE_LIMITS, PLAN_VISIBILITIES, Visibility

# The exact messages of the reference contract (reference/004).
SLUG_INVALID = "Slug must contain only lowercase letters, numbers, and hyphens"
SLUG_TAKEN = "This slug is already taken"
PLAN_LIMIT = "Plan limit reached"
SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,64}$")
COLOR_PATTERN = re.compile(r"^#[0-9A-Fa-f]{6}$")
URL = TypeAdapter(AnyHttpUrl)
VIEWER_TOKEN_PREFIX = "sgv_"  # noqa: S105  (a prefix, not a secret)
TEXT_LIMITS = {"name": 200, "tagline": 300, "announcement": 1000}
# A lost race on a slot or on the default flag is retried this often before giving up.
ATTEMPTS = 3


def _validate(fields: dict[str, Any], plan: str, problems: Problems) -> None:
    for name, limit in TEXT_LIMITS.items():
        value = fields.get(name)
        if name == "name" and "name" in fields and (value is None or not value.strip()):
            problems.add("name", "INVALID", "Name is required")
        elif value is not None and len(value) > limit:
            problems.add(name, "INVALID", f"{name} must be at most {limit} characters")
    if "slug" in fields and not SLUG_PATTERN.match(fields["slug"] or ""):
        problems.add("slug", "INVALID", SLUG_INVALID)
    for name, field in (("primary_color", "primaryColor"), ("secondary_color", "secondaryColor")):
        value = fields.get(name)
        if value is not None and not COLOR_PATTERN.match(value):
            problems.add(field, "INVALID", f"Invalid {name} format (use #RRGGBB)")
    for name, field in (("logo_url", "logoUrl"), ("favicon_url", "faviconUrl")):
        value = fields.get(name)
        if value is not None:
            try:
                URL.validate_python(value)
            except ValidationError:
                problems.add(field, "INVALID", f"{field} must be an http(s) URL")
    visibility = fields.get("visibility")
    if visibility is not None and visibility not in PLAN_VISIBILITIES[plan]:
        problems.add(
            "statusPageVisibility",
            "PLAN_LIMIT",
            f"{Visibility(visibility).name} pages are not available on the {plan} plan",
        )


async def _check_services(
    session: AsyncSession, principal: Principal, service_ids: Sequence[str], problems: Problems
) -> None:
    found = await owned_by_ids(
        session, Service, principal.organization_id, service_ids, lock=Lock.REFERENCE
    )
    check_references(problems, "serviceIds", service_ids, found, "Service")


async def _set_services(
    session: AsyncSession, page: StatusPage, service_ids: Sequence[str]
) -> None:
    for row in (
        await session.exec(select(StatusPageService).where(StatusPageService.page_id == page.id))
    ).all():
        await session.delete(row)
    await session.flush()
    for position, service_id in enumerate(service_ids):
        session.add(StatusPageService(page_id=page.id, service_id=service_id, position=position))


async def _free_slot(session: AsyncSession, organization_id: str, plan: str) -> int | None:
    """The lowest free slot, None for unlimited plans; raises when none is left."""
    limit = PLAN_PAGE_LIMITS[plan]
    if limit is None:
        return None
    taken = set(
        (
            await session.exec(select(StatusPage.slot).where(owned_by(StatusPage, organization_id)))
        ).all()
    )
    free = [slot for slot in range(1, limit + 1) if slot not in taken]
    if not free:
        raise UserInputError.single("statusPage", "PLAN_LIMIT_REACHED", PLAN_LIMIT)
    return free[0]


def _violated(error: IntegrityError) -> str:
    text = str(error.orig).lower()
    if "slug" in text:
        return "slug"
    if "slot" in text:
        return "slot"
    return "default"


_record = functools.partial(audit.record_change, scope=Scope.status_pages_write)


async def create_page(
    session: AsyncSession,
    principal: Principal,
    *,
    fields: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> StatusPage:
    fields = dict(fields)
    problems = Problems()
    _validate(fields, principal.plan, problems)
    service_ids = fields.pop("service_ids", None) or []
    # The organization's lock makes the slot and default-page choice below see every
    # page committed before; the unique indexes stay as the last line of defence.
    await lock_organization(session, principal.organization_id)
    await _check_services(session, principal, service_ids, problems)
    problems.raise_if_any()

    page: StatusPage | None = None
    for _attempt in range(ATTEMPTS):
        has_pages = (
            await session.exec(
                select(exists().where(owned_by(StatusPage, principal.organization_id)))
            )
        ).one()
        candidate = StatusPage(
            id=new_id("page"),
            organization_id=principal.organization_id,
            slot=await _free_slot(session, principal.organization_id, principal.plan),
            is_default=not has_pages,
            created_at=now,
            updated_at=now,
            **{**fields, "name": fields["name"].strip()},
        )
        try:
            # A savepoint: a lost race leaves the transaction usable for the retry.
            async with session.begin_nested():
                session.add(candidate)
                await session.flush()
        except IntegrityError as error:
            if _violated(error) == "slug":
                raise UserInputError.single("slug", "SLUG_TAKEN", SLUG_TAKEN) from None
            continue  # someone took the same slot or the default flag first: look again
        page = candidate
        break
    if page is None:
        raise UserInputError.single("statusPage", "PLAN_LIMIT_REACHED", PLAN_LIMIT)
    await _set_services(session, page, service_ids)
    await _record(
        session,
        principal,
        "status_page.created",
        page,
        request=request,
        now=now,
        details={"name": page.name, "slug": page.slug},
    )
    await session.flush()
    return page


async def update_page(
    session: AsyncSession,
    principal: Principal,
    *,
    page_id: str,
    changes: dict[str, Any],
    request: RequestInfo,
    now: datetime,
) -> StatusPage:
    # Locked: concurrent updates replace the page's service list one after another.
    page = await require_owned(
        session, StatusPage, principal.organization_id, page_id, "StatusPage", lock=Lock.UPDATE
    )
    changes = dict(changes)
    problems = Problems()
    _validate(changes, principal.plan, problems)
    service_ids = changes.pop("service_ids", None)
    if service_ids is not None:
        await _check_services(session, principal, service_ids, problems)
    for name in (
        "name",
        "slug",
        "visibility",
        "theme_mode",
        "theme",
        "font_family",
        "header_layout",
        "border_radius",
        "announcement_style",
    ):
        if name in changes and changes[name] is None:
            problems.add(name, "INVALID", f"{name} must not be null")
    problems.raise_if_any()
    for name, value in changes.items():
        setattr(page, name, value.strip() if name == "name" else value)
    page.updated_at = now
    try:
        async with session.begin_nested():
            session.add(page)
            await session.flush()
    except IntegrityError:
        raise UserInputError.single("slug", "SLUG_TAKEN", SLUG_TAKEN) from None
    if service_ids is not None:
        await _set_services(session, page, service_ids)
    await _record(
        session,
        principal,
        "status_page.updated",
        page,
        request=request,
        now=now,
        details={
            "changed": sorted([*changes, *(["service_ids"] if service_ids is not None else [])])
        },
    )
    await session.flush()
    return page


async def delete_page(
    session: AsyncSession,
    principal: Principal,
    *,
    page_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    """Deleting the default page makes the oldest remaining page the default. Holds the
    organization's lock: the successor must not be deleted meanwhile."""
    await lock_organization(session, principal.organization_id)
    page = await require_owned(
        session, StatusPage, principal.organization_id, page_id, "StatusPage", lock=Lock.DELETE
    )
    was_default = page.is_default
    await session.delete(page)
    await session.flush()
    if was_default:
        successor = (
            await session.exec(
                for_org(StatusPage, principal.organization_id)
                .order_by(col(StatusPage.created_at), col(StatusPage.id))
                .limit(1)
            )
        ).first()
        if successor is not None:
            successor.is_default = True
            session.add(successor)
    await _record(
        session,
        principal,
        "status_page.deleted",
        page,
        request=request,
        now=now,
        details={"name": page.name, "slug": page.slug},
    )
    await session.flush()
    return page_id


async def list_pages(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[StatusPage]:
    return await paginate(
        session, for_org(StatusPage, organization_id), StatusPage, page, with_count=with_count
    )


async def readable_page(
    session: AsyncSession,
    *,
    slug: str,
    principal: Principal | None,
    viewer_token: str | None,
    pepper: bytes,
) -> StatusPage:
    """The page a caller may read, or NOT_FOUND exactly as for a slug that does not exist:
    PUBLIC for anyone, PRIVATE with the organization's credential or a viewer token
    minted for it, INTERNAL with the organization's credential only."""
    page = (await session.exec(select(StatusPage).where(StatusPage.slug == slug))).first()
    if page is None:
        raise NotFoundError.of("StatusPage")
    if page.visibility == Visibility.PUBLIC:
        return page
    if principal is not None and principal.organization_id == page.organization_id:
        return page
    if page.visibility == Visibility.PRIVATE and viewer_token is not None:
        parsed = keys.parse_token(VIEWER_TOKEN_PREFIX, viewer_token)
        if parsed is not None:
            digest = keys.hash_secret(pepper, parsed)
            token = (
                await session.exec(
                    select(StatusPageViewerToken).where(
                        StatusPageViewerToken.token_hash == digest,
                        StatusPageViewerToken.page_id == page.id,
                        col(StatusPageViewerToken.revoked_at).is_(None),
                    )
                )
            ).first()
            if token is not None:
                return page
    raise NotFoundError.of("StatusPage")


# Built once; the ids are an expanding parameter (resolvers/incidents.py says why).
_SERVICES_FOR = (
    select(StatusPageService.page_id, Service)
    .join(Service, col(Service.id) == col(StatusPageService.service_id))
    .where(col(StatusPageService.page_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(StatusPageService.page_id), col(StatusPageService.position))
)


async def services_for(session: AsyncSession, page_ids: Sequence[str]) -> dict[str, list[Service]]:
    """Each page's services in its order, for any number of pages in one query."""
    rows = await session.exec(_SERVICES_FOR, params={"ids": list(page_ids)})
    services: dict[str, list[Service]] = {page_id: [] for page_id in page_ids}
    for page_id, service in rows.all():
        services[page_id].append(service)
    return services
