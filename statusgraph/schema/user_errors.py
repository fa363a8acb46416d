"""`userErrors { field code message }`: problems the caller fixes by changing the input."""

import strawberry

from statusgraph.resolvers.user_errors import UserError as UserErrorRow


@strawberry.type
class UserError:
    field: str | None = strawberry.field(description="The input field at fault, if any.")
    code: str
    message: str

    @classmethod
    def of(cls, errors: list[UserErrorRow]) -> list["UserError"]:
        return [cls(field=error.field, code=error.code, message=error.message) for error in errors]
