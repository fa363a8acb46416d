"""Organizations (tenants) and the first-run bootstrap."""

import re
from datetime import datetime

from sqlalchemy import exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth.principal import SYSTEM, Actor, RequestInfo
from statusgraph.auth.scopes import FULL_ACCESS
from statusgraph.db.models import Organization, Plan
from statusgraph.ids import new_id
from statusgraph.resolvers import api_keys, audit
from statusgraph.resolvers.user_errors import Problems, UserInputError

SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,64}$")
DEFAULT_ORG_NAME = "Default"
DEFAULT_ORG_SLUG = "default"


async def get_organization(session: AsyncSession, organization_id: str) -> Organization | None:
    return await session.get(Organization, organization_id)


async def get_by_slug(session: AsyncSession, slug: str) -> Organization | None:
    statement = select(Organization).where(Organization.slug == slug)
    return (await session.exec(statement)).first()


async def create_organization(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    slug: str,
    plan: str,
    request: RequestInfo,
    now: datetime,
) -> Organization:
    problems = Problems()
    name = name.strip()
    if not 1 <= len(name) <= 200:
        problems.add("name", "INVALID", "Name must be 1 to 200 characters")
    if not SLUG_PATTERN.match(slug):
        problems.add(
            "slug", "INVALID", "Slug must contain only lowercase letters, numbers, and hyphens"
        )
    if plan not in set(Plan):
        problems.add("plan", "INVALID", f"Plan must be one of: {', '.join(Plan)}")
    problems.raise_if_any()

    organization = Organization(id=new_id("org"), name=name, slug=slug, plan=plan, created_at=now)
    try:
        # A savepoint, so a lost race on the unique slug leaves the outer transaction usable.
        async with session.begin_nested():
            session.add(organization)
            await session.flush()
    except IntegrityError:
        raise UserInputError.single("slug", "SLUG_TAKEN", "This slug is already taken") from None
    await audit.record(
        session,
        actor,
        organization_id=organization.id,
        action="organization.created",
        target_type="organization",
        target_id=organization.id,
        request=request,
        now=now,
        details={"name": name, "slug": slug, "plan": plan},
    )
    await session.flush()
    return organization


async def bootstrap(session: AsyncSession, *, now: datetime, pepper: bytes) -> str | None:
    """On an empty database: organization "Default" (enterprise) and a `*:*` key.

    Returns the key's secret, to be shown once, or None when the database already
    has an organization.
    """
    if (await session.exec(select(exists().select_from(Organization)))).one():
        return None
    request = RequestInfo()
    organization = await create_organization(
        session,
        SYSTEM,
        name=DEFAULT_ORG_NAME,
        slug=DEFAULT_ORG_SLUG,
        plan=Plan.enterprise,
        request=request,
        now=now,
    )
    issued = await api_keys.create_key(
        session,
        SYSTEM,
        organization=organization,
        draft=api_keys.KeyDraft(name="First key", scopes=[FULL_ACCESS]),
        granter=None,
        request=request,
        now=now,
        pepper=pepper,
    )
    return issued.secret
