"""Signing in on the HTML pages (DESIGN §11): the password check, and its audit.

A success is audited as `user.login` in every organization the user belongs to, a
failure for an existing account as `user.login_failed` in each of that user's
organizations (actor id empty: nobody proved who they are; the target is the account).
A failure for an address with no account has no organization to be audited in: it is
logged, without the address (an address is personal data, and a mistyped password
pasted into the email field would otherwise land in the log).

A success whose stored hash was made with weaker parameters than today's (an older
argon2-cffi default, or a hash imported from elsewhere) stores a new hash of the
password, the only moment it is known. That ends the user's other browser sessions,
like a password change (oauth/session.py: a session carries a mark of the hash).
"""

import asyncio
import logging
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import passwords
from statusgraph.auth.principal import Actor, RequestInfo
from statusgraph.db.models import Membership, User
from statusgraph.resolvers import audit, users

logger = logging.getLogger("statusgraph.sign_in")

MAX_EMAIL_LENGTH = 254


async def sign_in(
    session: AsyncSession, email: str, password: str, *, request: RequestInfo, now: datetime
) -> User | None:
    """The user whose email and password these are, or None; either way audited."""
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        email = ""  # no account has such an address; still costs one password check
    user = await users.check_password(session, email, password)
    if user is not None:
        user.last_login_at = now
        if await asyncio.to_thread(passwords.needs_rehash, user.password_hash):
            user.password_hash = await users.hash_password(password)
        session.add(user)
        actor = Actor(type="user", id=user.id, label=user.email)
        await _audit(session, user, actor, "user.login", request=request, now=now)
        return user
    known = (await session.exec(select(User).where(User.email == email))).first() if email else None
    if known is None:
        logger.info("failed sign-in for an address with no account (ip %s)", request.ip)
        return None
    actor = Actor(type="user", id=None, label=known.email)
    await _audit(session, known, actor, "user.login_failed", request=request, now=now)
    return None


async def _audit(
    session: AsyncSession,
    user: User,
    actor: Actor,
    action: str,
    *,
    request: RequestInfo,
    now: datetime,
) -> None:
    memberships = (
        await session.exec(select(Membership).where(Membership.user_id == user.id))
    ).all()
    for membership in memberships:
        await audit.record(
            session,
            actor,
            organization_id=membership.organization_id,
            action=action,
            target_type="app_user",
            target_id=user.id,
            request=request,
            now=now,
        )
