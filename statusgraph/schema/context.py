"""Per-request GraphQL context: who is calling, a session factory, loaders, the clock."""

from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import Request

from statusgraph.auth.principal import Principal, RequestInfo
from statusgraph.db.engine import SessionFactory
from statusgraph.resolvers.credentials import CredentialCache
from statusgraph.schema.limits import QueryLimits
from statusgraph.schema.loaders import Loaders
from statusgraph.schema.permissions import authentication_required


@dataclass
class Context:
    request: Request
    principal: Principal | None
    request_info: RequestInfo
    db: SessionFactory
    pepper: bytes
    # Read once per operation; every resolver in it sees the same instant.
    now: datetime
    query_limits: QueryLimits
    credential_cache: CredentialCache | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db, self.now)

    def forget_credential(self, key_id: str) -> None:
        """After a key is revoked or rotated, this process must stop trusting its copy."""
        if self.credential_cache is not None:
            self.credential_cache.forget(key_id)

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise authentication_required()
        return self.principal
