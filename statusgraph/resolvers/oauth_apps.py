"""OAuth apps (DESIGN §11): registered clients of the OAuth 2.0 provider, and the grants
an organization's members gave them.

An app has a public client id (`sgc_…`) and, when confidential, a client secret
(`sgs_…`) shown once, in the answer that made it, and stored only as its HMAC with the
pepper (keys.hash_secret), like an API key. Rotating the secret replaces the hash: the
old secret stops at once (no overlap; an app can be given its new secret before the
rotation is made visible, and a leaked secret must stop now). Deleting an app revokes
every grant made to it, in every organization, then deletes it.

An app registered by one organization may be authorized by members of any other (the
consent page shows who registered it); the grant belongs to the member's organization.
That organization sees the app only as a GrantedApp: its id, name, client id and the
registering organization's name, never its redirect URIs, secret hint or creator.

Redirect URIs are the registration rules of §11 and RFC 8252 §7.3 / RFC 9700 §4.1:
HTTPS, or plain HTTP to a loopback IP literal (127.0.0.1 or [::1]) for native apps,
never `localhost` (a name can resolve anywhere), no wildcard, no userinfo, no
fragment. The authorization endpoint then matches them exactly, character for
character.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from statusgraph.auth import keys, oauth_tokens
from statusgraph.auth.principal import Actor, Principal, RequestInfo
from statusgraph.auth.scopes import Scope
from statusgraph.db.models import Membership, OAuthApp, OAuthGrant, Organization, User
from statusgraph.db.scoping import for_org
from statusgraph.ids import new_id
from statusgraph.resolvers import audit
from statusgraph.resolvers.locks import Lock
from statusgraph.resolvers.oauth_grants import RevokedBy, revoke_grant
from statusgraph.resolvers.owned import require_owned
from statusgraph.resolvers.pagination import Page, PageArgs, paginate
from statusgraph.resolvers.user_errors import Problems

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2048  # oauth_code.redirect_uri's column

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]"})
# Printable ASCII but the backslash (which browsers read as "/" in a URL's authority,
# the classic way to make two parsers disagree on the host) and whitespace.
_ALLOWED_CHARACTERS = re.compile(r"[!-\[\]-~]+")
# A DNS name (letters, digits, hyphens, dots) or an IPv4 literal; or an IPv6 literal.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")

ABSOLUTE = "Redirect URI must be an absolute URI"
SCHEME = "Redirect URI must use https, or http on a loopback address (127.0.0.1 or [::1])"
WILDCARD = "Redirect URI must not contain a wildcard"
USERINFO = "Redirect URI must not contain user information"
FRAGMENT = "Redirect URI must not contain a fragment"
TOO_LONG = f"Redirect URI must be at most {MAX_REDIRECT_URI_LENGTH} characters"
CHARACTERS = "Redirect URI must not contain spaces, backslashes or non-ASCII characters"
HOST = "Redirect URI has an invalid host"
PORT = "Redirect URI has an invalid port"


@dataclass(frozen=True, slots=True)
class IssuedApp:
    app: OAuthApp
    # The client secret of a confidential app, in the answer that made (or rotated) it
    # only; None for a public app.
    client_secret: str | None


@dataclass(frozen=True, slots=True)
class GrantedApp:
    """The app of a grant, as the grant's organization may see it whoever registered it:
    nothing of another organization beyond the app's name, client id and the name of the
    organization that registered it."""

    id: str
    name: str
    client_id: str
    registered_by: str  # the registering organization's name


class ConnectedApp(NamedTuple):
    """A line of /account/apps: a user's grant, its app, the organization the grant acts
    in, and the name of the organization that registered the app."""

    grant: OAuthGrant
    app: OAuthApp
    organization: Organization
    registered_by: str


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be registered as a redirect URI, or None if it can."""
    if not uri:
        return ABSOLUTE
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return TOO_LONG
    if not _ALLOWED_CHARACTERS.fullmatch(uri):
        return CHARACTERS
    if "*" in uri:
        return WILDCARD
    if "#" in uri:
        return FRAGMENT
    try:
        parts = urlsplit(uri)
    except ValueError:  # an unbalanced "[" or "]" in the authority
        return HOST
    scheme = parts.scheme.lower()
    if not scheme:
        return ABSOLUTE
    if scheme not in ("https", "http"):
        return SCHEME
    if not uri.lower().startswith(scheme + "://"):
        return ABSOLUTE
    if "@" in parts.netloc:
        return USERINFO
    host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    if not host:
        return ABSOLUTE
    if not _HOST.fullmatch(host):
        return HOST
    try:
        port = parts.port
    except ValueError:
        return PORT
    if port == 0 or (port is None and ":" in parts.netloc.rsplit("]", 1)[-1]):
        return PORT  # "host:" and "host:0"
    if scheme == "https":
        return None
    if scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    return SCHEME


def _validate_name(name: str, problems: Problems) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        problems.add("name", "INVALID", f"Name must be 1 to {MAX_NAME_LENGTH} characters")
    return name


def _validate_description(description: str, problems: Problems) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        problems.add(
            "description",
            "INVALID",
            f"Description must be at most {MAX_DESCRIPTION_LENGTH} characters",
        )
    return description


def _validate_redirect_uris(uris: Sequence[str], problems: Problems) -> list[str]:
    """Kept exactly as given (no normalisation: the authorization endpoint compares
    strings), in the order given."""
    if not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        problems.add(
            "redirectUris",
            "INVALID",
            f"An app needs 1 to {MAX_REDIRECT_URIS} redirect URIs",
        )
        return list(uris)
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem is not None:
            # The URI is named unless it is the over-long one.
            shown = f"{problem}: {uri}" if problem is not TOO_LONG else problem
            problems.add("redirectUris", "INVALID_REDIRECT_URI", shown)
    if len(set(uris)) != len(uris):
        problems.add("redirectUris", "DUPLICATE", "redirectUris lists the same URI twice")
    return list(uris)


def _new_secret(pepper: bytes) -> tuple[str, str, str]:
    secret = oauth_tokens.generate(oauth_tokens.CLIENT_SECRET_PREFIX)
    return secret, keys.hash_secret(pepper, secret), oauth_tokens.display(secret)


async def create_oauth_app(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    description: str,
    redirect_uris: list[str],
    confidential: bool,
    request: RequestInfo,
    now: datetime,
    pepper: bytes,
) -> IssuedApp:
    """createOAuthApp: a client id always, a client secret for a confidential app."""
    problems = Problems()
    name = _validate_name(name, problems)
    description = _validate_description(description, problems)
    uris = _validate_redirect_uris(redirect_uris, problems)
    problems.raise_if_any()

    secret: str | None = None
    secret_hash = secret_display = None
    if confidential:
        secret, secret_hash, secret_display = _new_secret(pepper)
    actor = principal.actor
    app = OAuthApp(
        id=new_id("oap"),
        organization_id=principal.organization_id,
        name=name,
        description=description,
        client_id=oauth_tokens.generate(oauth_tokens.CLIENT_ID_PREFIX),
        confidential=confidential,
        secret_hash=secret_hash,
        secret_display=secret_display,
        redirect_uris=uris,
        created_at=now,
        updated_at=now,
        created_by_type=actor.type,
        created_by_id=actor.id,
        created_by_label=actor.label,
    )
    session.add(app)
    await audit.record_change(
        session,
        principal,
        "oauth_app.created",
        app,
        scope=Scope.config_write,
        request=request,
        now=now,
        details={
            "name": name,
            "clientId": app.client_id,
            "confidential": confidential,
            "redirectUris": uris,
        },
    )
    await session.flush()
    return IssuedApp(app=app, client_secret=secret)


async def get_app(session: AsyncSession, organization_id: str, app_id: str) -> OAuthApp | None:
    statement = for_org(OAuthApp, organization_id).where(col(OAuthApp.id) == app_id)
    return (await session.exec(statement)).first()


async def list_apps(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[OAuthApp]:
    return await paginate(
        session, for_org(OAuthApp, organization_id), OAuthApp, page, with_count=with_count
    )


async def update_oauth_app(
    session: AsyncSession,
    principal: Principal,
    *,
    app_id: str,
    name: str | None,
    description: str | None,
    redirect_uris: list[str] | None,
    request: RequestInfo,
    now: datetime,
) -> OAuthApp:
    """updateOAuthApp: the fields given (None = unchanged). A redirect URI removed here
    stops working at once, for codes not yet exchanged too (the token endpoint compares
    with the code's, which the authorization endpoint checked against this list)."""
    app = await require_owned(
        session, OAuthApp, principal.organization_id, app_id, "OAuthApp", lock=Lock.UPDATE
    )
    problems = Problems()
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = _validate_name(name, problems)
    if description is not None:
        changes["description"] = _validate_description(description, problems)
    if redirect_uris is not None:
        changes["redirect_uris"] = _validate_redirect_uris(redirect_uris, problems)
    problems.raise_if_any()
    changed = sorted(field for field, value in changes.items() if getattr(app, field) != value)
    for field, value in changes.items():
        setattr(app, field, value)
    app.updated_at = now
    session.add(app)
    details: dict[str, object] = {"changed": changed}
    if "redirect_uris" in changed:
        details["redirectUris"] = app.redirect_uris
    await audit.record_change(
        session,
        principal,
        "oauth_app.updated",
        app,
        scope=Scope.config_write,
        request=request,
        now=now,
        details=details,
    )
    await session.flush()
    return app


async def rotate_oauth_app_secret(
    session: AsyncSession,
    principal: Principal,
    *,
    app_id: str,
    request: RequestInfo,
    now: datetime,
    pepper: bytes,
) -> IssuedApp:
    """rotateOAuthAppSecret: a new secret, shown once; the old one stops at once. The
    row lock makes concurrent rotations run one after the other: the last one's secret
    is the one that works, and each caller was shown the secret it wrote."""
    app = await require_owned(
        session, OAuthApp, principal.organization_id, app_id, "OAuthApp", lock=Lock.UPDATE
    )
    if not app.confidential:
        problems = Problems()
        problems.add("id", "PUBLIC_CLIENT", "A public app has no client secret")
        problems.raise_if_any()
    secret, app.secret_hash, app.secret_display = _new_secret(pepper)
    app.updated_at = now
    session.add(app)
    await audit.record_change(
        session,
        principal,
        "oauth_app.secret_rotated",
        app,
        scope=Scope.config_write,
        request=request,
        now=now,
        details={"secretHint": app.secret_display},
    )
    await session.flush()
    return IssuedApp(app=app, client_secret=secret)


async def delete_oauth_app(
    session: AsyncSession,
    principal: Principal,
    *,
    app_id: str,
    request: RequestInfo,
    now: datetime,
) -> str:
    """deleteOAuthApp: revokes every live grant of the app (each audited, reason
    app_deleted), then deletes the app; its codes, grants and tokens go with it.

    Grants made in other organizations (their members authorized the app) are revoked
    and audited too, each in its own organization's log, so none vanishes through the
    cascade unrecorded. There the actor is the system, labelled with the registering
    organization's name: the deleting credential (a key's name, a user's email) is this
    organization's business, not theirs."""
    app = await require_owned(
        session, OAuthApp, principal.organization_id, app_id, "OAuthApp", lock=Lock.DELETE
    )
    # Every organization's grants of the app, not only ours: the app is ours, and so is
    # the decision to end every grant made to it. A grant inserted after this read (a
    # code exchanged meanwhile) waits on the app row's lock, then fails its foreign key.
    live = (
        await session.exec(
            select(OAuthGrant)
            .where(col(OAuthGrant.app_id) == app.id, col(OAuthGrant.revoked_at).is_(None))
            .order_by(col(OAuthGrant.id))
        )
    ).all()
    registrar = await session.get(Organization, principal.organization_id)
    assert registrar is not None  # the caller's organization exists while it calls
    elsewhere = Actor(type="system", id=None, label=f"{registrar.name} (app deleted)"[:200])
    about = {"appName": app.name, "clientId": app.client_id}
    for grant in live:
        ours = grant.organization_id == principal.organization_id
        await revoke_grant(
            session,
            principal.actor if ours else elsewhere,
            grant,
            reason=RevokedBy.APP_DELETED,
            request=request if ours else RequestInfo(),
            now=now,
            details=about,
        )
    await session.delete(app)
    await audit.record_change(
        session,
        principal,
        "oauth_app.deleted",
        app,
        scope=Scope.config_write,
        request=request,
        now=now,
        details={"name": app.name, "clientId": app.client_id, "grantsRevoked": len(live)},
    )
    await session.flush()
    return app_id


async def list_grants(
    session: AsyncSession, organization_id: str, *, page: PageArgs, with_count: bool = False
) -> Page[OAuthGrant]:
    """oauthGrants: the organization's live (not revoked) grants."""
    statement = for_org(OAuthGrant, organization_id).where(col(OAuthGrant.revoked_at).is_(None))
    return await paginate(session, statement, OAuthGrant, page, with_count=with_count)


async def revoke_organization_grant(
    session: AsyncSession,
    principal: Principal,
    *,
    grant_id: str,
    request: RequestInfo,
    now: datetime,
) -> OAuthGrant:
    """revokeOAuthGrant: a grant of the caller's organization (another's is NOT_FOUND);
    one already revoked is the userError ALREADY_REVOKED, like a revoked API key."""
    grant = await require_owned(
        session, OAuthGrant, principal.organization_id, grant_id, "OAuthGrant", lock=Lock.UPDATE
    )
    if grant.revoked_at is not None or not await revoke_grant(
        session,
        principal.actor,
        grant,
        reason=RevokedBy.ORGANIZATION,
        request=request,
        now=now,
    ):
        problems = Problems()
        problems.add("id", "ALREADY_REVOKED", "OAuth grant is already revoked")
        problems.raise_if_any()
    await session.refresh(grant)
    return grant


async def grants_of_user(session: AsyncSession, user_id: str) -> list[ConnectedApp]:
    """A user's live grants in the organizations they are still a member of, newest
    first, for /account/apps, with who registered each app (it may be any organization)."""
    registrar = aliased(Organization)
    statement = (
        select(OAuthGrant, OAuthApp, Organization, col(registrar.name))
        .join(OAuthApp, col(OAuthApp.id) == col(OAuthGrant.app_id))
        .join(Organization, col(Organization.id) == col(OAuthGrant.organization_id))
        .join(registrar, col(registrar.id) == col(OAuthApp.organization_id))
        .join(
            Membership,
            and_(
                col(Membership.user_id) == col(OAuthGrant.user_id),
                col(Membership.organization_id) == col(OAuthGrant.organization_id),
            ),
        )
        .where(col(OAuthGrant.user_id) == user_id, col(OAuthGrant.revoked_at).is_(None))
        .order_by(col(OAuthGrant.created_at).desc(), col(OAuthGrant.id).desc())
    )
    rows = (await session.exec(statement)).all()
    return [ConnectedApp(*row) for row in rows]


async def grant_parties(
    session: AsyncSession, grants: Sequence[OAuthGrant]
) -> tuple[dict[str, GrantedApp], dict[str, User]]:
    """The apps and users of a page of an organization's grants (read through for_org by
    the caller), in two queries. An app may be another organization's: it is read by id
    whoever registered it, and only what GrantedApp holds leaves this function."""
    apps: dict[str, GrantedApp] = {}
    app_ids = {grant.app_id for grant in grants}
    if app_ids:
        found_apps = await session.exec(
            select(
                col(OAuthApp.id),
                col(OAuthApp.name),
                col(OAuthApp.client_id),
                col(Organization.name),
            )
            .join(Organization, col(Organization.id) == col(OAuthApp.organization_id))
            .where(col(OAuthApp.id).in_(app_ids))
        )
        apps = {
            app_id: GrantedApp(id=app_id, name=name, client_id=client_id, registered_by=registrar)
            for app_id, name, client_id, registrar in found_apps.all()
        }
    user_ids = {grant.user_id for grant in grants}
    users: dict[str, User] = {}
    if user_ids:
        found = await session.exec(select(User).where(col(User.id).in_(user_ids)))
        users = {user.id: user for user in found.all()}
    return apps, users
