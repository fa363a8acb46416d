"""Who is calling (a principal) and who did something (an actor, for the audit log)."""

from dataclasses import dataclass
from datetime import datetime

from statusgraph.auth.scopes import grants


@dataclass(frozen=True, slots=True)
class Actor:
    type: str  # "api_key" | "cli" | "system"
    id: str | None
    label: str


SYSTEM = Actor(type="system", id=None, label="statusgraph")
CLI = Actor(type="cli", id=None, label="command line")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated credential. Only API keys for now; OAuth tokens come later."""

    kind: str
    id: str
    name: str
    organization_id: str
    plan: str
    scopes: frozenset[str]
    expires_at: datetime | None
    sandbox: bool

    def can(self, scope: str) -> bool:
        return grants(self.scopes, scope)

    @property
    def actor(self) -> Actor:
        return Actor(type=self.kind, id=self.id, label=self.name)


# Not frozen, unlike the others here: one is made for every request, and a frozen
# dataclass sets each field through object.__setattr__, which doubles that cost.
@dataclass(slots=True)
class RequestInfo:
    """What the audit log records about the request behind an action."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
