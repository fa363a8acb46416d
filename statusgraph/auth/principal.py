"""Who is calling (a principal) and who did something (an actor, for the audit log)."""

from dataclasses import dataclass
from datetime import datetime

from statusgraph.auth.scopes import grants


@dataclass(frozen=True, slots=True)
class Actor:
    type: str  # "api_key" | "oauth_token" | "user" | "cli" | "system"
    id: str | None
    label: str
    # The OAuth app an "oauth_token" actor acted through (the audit log's app filter).
    app_id: str | None = None


SYSTEM = Actor(type="system", id=None, label="statusgraph")
CLI = Actor(type="cli", id=None, label="command line")


@dataclass(frozen=True, slots=True)
class Delegation:
    """Whom an OAuth access token acts for, and through which app (DESIGN §11)."""

    user_id: str
    user_email: str
    user_name: str
    role: str
    app_id: str
    app_name: str
    client_id: str


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated credential: an API key (kind "api_key") or an OAuth access token
    (kind "oauth_token", whose id is its grant's: a refresh keeps the rate-limit bucket)."""

    kind: str
    id: str
    name: str
    organization_id: str
    plan: str
    scopes: frozenset[str]
    expires_at: datetime | None
    sandbox: bool
    delegation: Delegation | None = None

    def can(self, scope: str) -> bool:
        return grants(self.scopes, scope)

    @property
    def actor(self) -> Actor:
        if self.delegation is not None:
            label = delegated_label(self.delegation.app_name, self.delegation.user_email)
            return Actor(type=self.kind, id=self.id, label=label, app_id=self.delegation.app_id)
        return Actor(type=self.kind, id=self.id, label=self.name)


def delegated_label(app_name: str, user_email: str) -> str:
    """How the audit log names an OAuth token's actions: the app, and whom it acts for."""
    return f"{app_name} for {user_email}"[:200]


# Not frozen, unlike the others here: one is made for every request, and a frozen
# dataclass sets each field through object.__setattr__, which doubles that cost.
@dataclass(slots=True)
class RequestInfo:
    """What the audit log records about the request behind an action."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
