from enum import Enum

import strawberry


@strawberry.enum
class ActorType(Enum):
    API_KEY = "api_key"
    OAUTH_TOKEN = "oauth_token"  # noqa: S105  (a kind)
    USER = "user"
    CLI = "cli"
    SYSTEM = "system"


@strawberry.type(
    description="Who did something: a credential, a user, the command line, or the server."
)
class Actor:
    type: ActorType
    id: strawberry.ID | None
    label: str

    @classmethod
    def of(cls, type_: str, id_: str | None, label: str) -> "Actor":
        return cls(type=ActorType(type_), id=strawberry.ID(id_) if id_ else None, label=label)
