"""Viewer tokens: what lets a reader see one PRIVATE status page (`X-Status-Page-Token`).

Shown once, stored as an HMAC like API keys, revocable. status_pages.readable_page
checks them.
"""

import functools
from datetime import datetime

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys
from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import StatusPage, StatusPageViewerToken
from statusgraph.db.scoping import for_org
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.owned import require_owned
from statusgraph.resolvers.status_pages import VIEWER_TOKEN_PREFIX
from statusgraph.resolvers.user_errors import Problems, UserInputError

_record = functools.partial(audit.record_change, scope=Scope.status_pages_write)


async def create_viewer_token(
    session: AsyncSession,
    principal: Principal,
    *,
    page_id: str,
    name: str,
    pepper: bytes,
    request: RequestInfo,
    now: datetime,
) -> tuple[StatusPageViewerToken, str]:
    page = await require_owned(
        session, StatusPage, principal.organization_id, page_id, "StatusPage", lock=Lock.REFERENCE
    )
    problems = Problems()
    if not name.strip() or len(name) > 200:
        problems.add("name", "INVALID", "Name must be 1 to 200 characters")
    problems.raise_if_any()
    generated = keys.generate_token(VIEWER_TOKEN_PREFIX)
    token = StatusPageViewerToken(
        id=new_id("spt"),
        organization_id=principal.organization_id,
        page_id=page.id,
        name=name.strip(),
        display_prefix=generated[: len(VIEWER_TOKEN_PREFIX) + 4],
        token_hash=keys.hash_secret(pepper, generated),
        created_at=now,
    )
    session.add(token)
    await _record(
        session,
        principal,
        "status_page.viewer_token_created",
        token,
        request=request,
        now=now,
        details={"pageId": page.id, "name": token.name},
    )
    await session.flush()
    return token, generated


async def revoke_viewer_token(
    session: AsyncSession,
    principal: Principal,
    *,
    token_id: str,
    request: RequestInfo,
    now: datetime,
) -> StatusPageViewerToken:
    token = await require_owned(
        session,
        StatusPageViewerToken,
        principal.organization_id,
        token_id,
        "StatusPageViewerToken",
        lock=Lock.UPDATE,
    )
    if token.revoked_at is not None:
        raise UserInputError.single("id", "ALREADY_REVOKED", "Viewer token is already revoked")
    token.revoked_at = now
    session.add(token)
    await _record(
        session,
        principal,
        "status_page.viewer_token_revoked",
        token,
        request=request,
        now=now,
        details={"pageId": token.page_id},
    )
    await session.flush()
    return token


async def viewer_tokens(
    session: AsyncSession, organization_id: str, page_id: str
) -> list[StatusPageViewerToken]:
    statement = (
        for_org(StatusPageViewerToken, organization_id)
        .where(StatusPageViewerToken.page_id == page_id)
        .order_by(col(StatusPageViewerToken.created_at))
    )
    return list((await session.exec(statement)).all())
